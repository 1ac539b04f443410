"""Media files -> bronze.media reference rows with probed metadata.

Probing is cheap and header-only where it can be: Pillow for image size and format (header
only, refused over Pillow's decompression-bomb limit; the image stage decodes, so truncated
images are its rejects), the stdlib `wave` module for WAV (declared vs
actual data size), mutagen for other audio and MP4 duration, all on the open file, never
on its whole content in memory. The file is hashed in 1 MiB chunks (content_sha256 is part
of the lineage contract) and its bytes kept inline only when small. Reject reasons:
corrupt_media (the library says the data is broken), image_bomb (more pixels than
Pillow's decompression-bomb limit), unsupported_media, unreadable_file, missing_file,
probe_error (the probing library failed in an unexpected way: counted against the
ingest error budget, so a broken install fails the run).
"""
from __future__ import annotations

import hashlib
import mimetypes
import os
import struct
import wave
from datetime import UTC, datetime

from pipelines.errors import reraise_environment
from pipelines.ingest.records import IngestContext, lineage, make_doc_id, reject

IMAGE = {".jpg", ".jpeg", ".png", ".gif", ".webp", ".bmp", ".tif", ".tiff"}
AUDIO = {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac"}
VIDEO = {".mp4", ".webm", ".mkv", ".mov", ".avi", ".m4v"}
MEDIA_EXTENSIONS = IMAGE | AUDIO | VIDEO
HASH_CHUNK = 1 << 20


def media_type_of(name: str) -> str | None:
    ext = os.path.splitext(name.lower())[1]
    return "image" if ext in IMAGE else "audio" if ext in AUDIO else "video" if ext in VIDEO else None


class CorruptMedia(ValueError):
    def __init__(self, detail: str, reason: str = "corrupt_media"):
        super().__init__(detail)
        self.reason = reason


def probe_image(fh) -> dict:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(fh) as im:
            info = {"width": im.width, "height": im.height, "codec": (im.format or "").lower() or None,
                    "mime_type": Image.MIME.get(im.format)}
            if Image.MAX_IMAGE_PIXELS and im.width * im.height > Image.MAX_IMAGE_PIXELS:
                raise CorruptMedia(f"{im.width}x{im.height} pixels exceed Pillow's decompression-bomb limit "
                                   f"({Image.MAX_IMAGE_PIXELS})", "image_bomb")
        return info
    except CorruptMedia:
        raise
    except Image.DecompressionBombError as e:
        raise CorruptMedia(f"image over the decompression-bomb limit: {e}", "image_bomb") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as e:
        raise CorruptMedia(f"image does not decode: {e}") from None


def _probe_wav(fh, size: int) -> dict:
    try:
        with wave.open(fh) as w:
            frames, rate, ch, width = w.getnframes(), w.getframerate(), w.getnchannels(), w.getsampwidth()
    except (wave.Error, EOFError, struct.error) as e:
        raise CorruptMedia(f"WAV header unreadable: {e}") from None
    have = _wav_data_bytes(fh, size)
    need = frames * ch * width
    if have is not None and have < need:
        raise CorruptMedia(f"WAV data chunk holds {have} of {need} declared bytes (truncated)")
    return {"duration_s": frames / rate if rate else None, "sample_rate": rate, "channels": ch,
            "codec": f"pcm_s{8 * width}le", "mime_type": "audio/wav"}


def _wav_data_bytes(fh, size: int) -> int | None:
    """Bytes after the data chunk's header, walking the RIFF chunk headers only."""
    pos = 12
    while pos + 8 <= size:
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return None
        cid, n = head[:4], int.from_bytes(head[4:], "little")
        if cid == b"data":
            return size - pos - 8
        pos += 8 + n + (n & 1)
    return None


def _probe_mutagen(fh) -> dict:
    import mutagen

    try:
        f = mutagen.File(fh)
    except (mutagen.MutagenError, struct.error, EOFError, ValueError, IndexError, KeyError, OverflowError) as e:
        raise CorruptMedia(f"container unreadable: {type(e).__name__}: {e}") from None
    if f is None or getattr(f, "info", None) is None:
        raise CorruptMedia("no known audio/video container found")
    info = f.info
    mime = (f.mime[0] if getattr(f, "mime", None) else None)
    return {"duration_s": getattr(info, "length", None), "sample_rate": getattr(info, "sample_rate", None),
            "channels": getattr(info, "channels", None), "codec": getattr(info, "codec", None),
            "mime_type": mime}


def probe(fh, size: int, name: str, media_type: str, ctx: IngestContext) -> dict:
    """Metadata of one open, seekable media file; CorruptMedia when the data is broken."""
    ext = os.path.splitext(name.lower())[1]
    fh.seek(0)
    if media_type == "image":
        return probe_image(fh)
    if ext == ".wav":
        return _probe_wav(fh, size)
    if ext in (".webm", ".mkv", ".avi"):
        return {}  # no cheap pure-Python probe; size and mime only (the media stages decode)
    return _probe_mutagen(fh)


def _digest(fh) -> tuple[str, int]:
    h, n = hashlib.sha256(), 0
    for chunk in iter(lambda: fh.read(HASH_CHUNK), b""):
        h.update(chunk)
        n += len(chunk)
    return h.hexdigest(), n


def media_row(uri: str, size: int, mtime_ms: int | None, dataset: str, license: str | None,
              open_file, ctx: IngestContext, missing: bool = False, lang: str | None = None,
              provenance: dict | None = None) -> dict:
    """Probe one media file. `open_file()` returns it as a seekable binary file (or raises OSError)."""
    name = uri.rsplit("/", 1)[-1]

    def rej(reason: str, detail: str, doc_id: str | None = None) -> dict:
        return reject(ctx, reason=reason, detail=detail, source_uri=uri, source_record=uri, dataset=dataset,
                      doc_id=doc_id)
    if missing:
        return rej("missing_file", "listed in the manifest but not found")
    mtype = media_type_of(name)
    if mtype is None:
        return rej("unsupported_media", f"unknown media extension: {name}")
    try:
        fh = open_file()
    except OSError as e:
        return rej("unreadable_file", str(e))
    with fh:
        try:
            sha, n = _digest(fh)
        except OSError as e:
            return rej("unreadable_file", f"read failed: {e}")
        doc_id = make_doc_id(dataset, uri, sha)
        if not n:
            return rej("corrupt_media", "file is empty", doc_id)
        try:
            info = probe(fh, n, name, mtype, ctx)
        except CorruptMedia as e:
            return rej(e.reason, str(e), doc_id)
        except Exception as e:  # the library failed, not the data: counted against the error budget
            reraise_environment(e)
            return rej("probe_error", f"{type(e).__name__}: {e}", doc_id)
        content = None
        if n <= ctx.inline_media_bytes:
            fh.seek(0)
            content = fh.read()
    row = lineage(ctx, doc_id=doc_id, source_uri=uri, source_record=uri, dataset=dataset,
                  license=ctx.license_for(dataset, license), content_sha256=sha)
    mtime = datetime.fromtimestamp(mtime_ms / 1000, tz=UTC) if mtime_ms else None
    row.update(media_type=mtype, mime_type=info.get("mime_type") or mimetypes.guess_type(name)[0],
               size_bytes=n, modification_time=mtime, duration_s=info.get("duration_s"), width=info.get("width"),
               height=info.get("height"), sample_rate=info.get("sample_rate"), channels=info.get("channels"),
               codec=info.get("codec"), content=content, lang_hint=lang,
               provenance=provenance)
    return row
