"""Media files -> bronze.media reference rows with probed metadata.

Probing is cheap and header-only where it can be: Pillow for image size (and a full decode
of small images, which catches truncation), the stdlib `wave` module for WAV (declared vs
actual data size), mutagen for other audio and MP4 duration. The file is hashed in full
(content_sha256 is part of the lineage contract) and stored inline when small.
Reject reasons: corrupt_media, unsupported_media, unreadable_file.
"""
from __future__ import annotations

import hashlib
import io
import mimetypes
import os
import wave
from datetime import UTC, datetime

from pipelines.ingest.records import IngestContext, basename, lineage, make_doc_id, reject

IMAGE = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac"}
VIDEO = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v"}
MEDIA_EXTENSIONS = IMAGE | AUDIO | VIDEO


def media_type_of(name: str) -> str | None:
    ext = os.path.splitext(name.lower())[1]
    return "image" if ext in IMAGE else "audio" if ext in AUDIO else "video" if ext in VIDEO else None


class CorruptMedia(ValueError):
    pass


def _probe_image(data: bytes, full_decode: bool) -> dict:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            info = {"width": im.width, "height": im.height, "codec": (im.format or "").lower() or None,
                    "mime_type": Image.MIME.get(im.format)}
            if full_decode:
                im.load()
        return info
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise CorruptMedia(f"image does not decode: {e}") from None


def _probe_wav(data: bytes) -> dict:
    try:
        with wave.open(io.BytesIO(data)) as w:
            frames, rate, ch, width = w.getnframes(), w.getframerate(), w.getnchannels(), w.getsampwidth()
    except (wave.Error, EOFError) as e:
        raise CorruptMedia(f"WAV header unreadable: {e}") from None
    have = _wav_data_bytes(data)
    need = frames * ch * width
    if have is not None and have < need:
        raise CorruptMedia(f"WAV data chunk holds {have} of {need} declared bytes (truncated)")
    return {"duration_s": frames / rate if rate else None, "sample_rate": rate, "channels": ch,
            "codec": f"pcm_s{8 * width}le", "mime_type": "audio/wav"}


def _wav_data_bytes(data: bytes) -> int | None:
    pos = 12
    while pos + 8 <= len(data):
        cid, size = data[pos:pos + 4], int.from_bytes(data[pos + 4:pos + 8], "little")
        if cid == b"data":
            return len(data) - pos - 8
        pos += 8 + size + (size & 1)
    return None


def _probe_mutagen(data: bytes, name: str) -> dict:
    import mutagen

    try:
        f = mutagen.File(io.BytesIO(data))
    except Exception as e:  # mutagen raises its own MutagenError subclasses and struct errors
        raise CorruptMedia(f"container unreadable: {e}") from None
    if f is None or getattr(f, "info", None) is None:
        raise CorruptMedia("no known audio/video container found")
    info = f.info
    mime = (f.mime[0] if getattr(f, "mime", None) else None)
    return {"duration_s": getattr(info, "length", None), "sample_rate": getattr(info, "sample_rate", None),
            "channels": getattr(info, "channels", None), "codec": getattr(info, "codec", None),
            "mime_type": mime}


def probe(data: bytes, name: str, media_type: str, ctx: IngestContext) -> dict:
    ext = os.path.splitext(name.lower())[1]
    if media_type == "image":
        return _probe_image(data, full_decode=len(data) <= ctx.inline_media_bytes)
    if ext == ".wav":
        return _probe_wav(data)
    if ext in (".webm", ".mkv", ".avi"):
        return {}  # no cheap pure-Python probe; size and mime only (the media stages decode)
    return _probe_mutagen(data, name)


def media_row(uri: str, size: int, mtime_ms: int | None, dataset: str, license: str | None,
              read_bytes, ctx: IngestContext) -> dict:
    """Probe one media file. `read_bytes()` returns its whole content (or raises OSError)."""
    name = basename(uri)
    mtype = media_type_of(name)
    if mtype is None:
        return reject(ctx, reason="unsupported_media", detail=f"unknown media extension: {name}",
                      source_uri=uri, source_record=name, dataset=dataset)
    try:
        data = read_bytes()
    except OSError as e:
        return reject(ctx, reason="unreadable_file", detail=str(e), source_uri=uri, source_record=name,
                      dataset=dataset)
    sha = hashlib.sha256(data).hexdigest()
    doc_id = make_doc_id(dataset, name, sha)
    if not data:
        return reject(ctx, reason="corrupt_media", detail="file is empty", source_uri=uri, source_record=name,
                      dataset=dataset, doc_id=doc_id)
    try:
        info = probe(data, name, mtype, ctx)
    except CorruptMedia as e:
        return reject(ctx, reason="corrupt_media", detail=str(e), source_uri=uri, source_record=name,
                      dataset=dataset, doc_id=doc_id)
    row = lineage(ctx, doc_id=doc_id, source_uri=uri, source_record=name, dataset=dataset,
                  license=ctx.license_for(dataset, license), content_sha256=sha)
    mtime = datetime.fromtimestamp(mtime_ms / 1000, tz=UTC) if mtime_ms else None
    row.update(media_type=mtype, mime_type=info.get("mime_type") or mimetypes.guess_type(name)[0],
               size_bytes=len(data) if size is None else size, modification_time=mtime,
               duration_s=info.get("duration_s"), width=info.get("width"), height=info.get("height"),
               sample_rate=info.get("sample_rate"), channels=info.get("channels"), codec=info.get("codec"),
               content=data if len(data) <= ctx.inline_media_bytes else None)
    return row
