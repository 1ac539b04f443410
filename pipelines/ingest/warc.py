"""WARC and WET records -> bronze.documents rows (fastwarc), with a reject for every failure.

Records read: `response` (HTTP parsed), `resource` and `conversion` (WET text). Responses
of an `ingest.image_content_types` type become bronze.media image rows; HTML pages keep
their <img> elements (image_refs) so the image stage can pair images with their alt text. warcinfo,
request, metadata and revisit records carry no document and are not counted as input.
Reject reasons: http_status, unsupported_content_type, empty_body, too_large,
truncated_record, decode_error, bad_http, and for the file itself truncated_archive,
corrupt_archive, unreadable_file.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

from fastwarc.warc import ArchiveIterator, WarcRecordType

from pipelines.ingest.decode import DecodeError, decode_body, license_from_html, robots_meta
from pipelines.ingest.img_refs import image_refs
from pipelines.ingest.media import CorruptMedia, probe_image
from pipelines.ingest.records import IngestContext, host_of, lineage, make_doc_id, reject, sha256_hex
from pipelines.ingest.streams import Decompressed

RECORD_TYPES = WarcRecordType.response | WarcRecordType.resource | WarcRecordType.conversion
KEEP_HEADERS = ("content-type", "content-language", "x-robots-tag", "last-modified")


def mime_of(ct: str | None) -> str | None:
    """A Content-Type without its parameters, lowercased."""
    return ct.split(";", 1)[0].strip().lower() if ct else None


def _type_name(t) -> str:
    if t == WarcRecordType.response:
        return "response"
    return "conversion" if t == WarcRecordType.conversion else "resource"


def iter_warc(stream, uri: str, dataset: str, ctx: IngestContext) -> Iterator[dict]:
    """Yield outcome rows for every document record of one WARC/WET file. A record without a
    WARC-Record-ID, and the file's own rejects, are named by the file's full URI and offset."""
    src = Decompressed(stream)
    if src.mismatch(uri):
        yield reject(ctx, reason="corrupt_archive", detail=src.mismatch(uri), source_uri=uri,
                     source_record=f"{uri}@0", dataset=dataset)
        return
    last_pos = 0
    try:
        for rec in ArchiveIterator(src, record_types=RECORD_TYPES, parse_http=True, stream_detect=False):
            last_pos = rec.stream_pos
            yield _record(rec, _type_name(rec.record_type), uri, dataset, src.compressed_offset(rec.stream_pos), ctx)
    except OSError as e:  # fastwarc parse failure on a damaged (but decompressible) stream
        yield reject(ctx, reason="corrupt_archive", detail=f"WARC parse error after offset {last_pos}: {e}",
                     source_uri=uri, source_record=f"{uri}@{last_pos}", dataset=dataset)
        return
    if src.error:
        yield reject(ctx, reason="corrupt_archive",
                     detail=f"compressed data corrupt near byte {src.comp_pos}: {src.error}",
                     source_uri=uri, source_record=f"{uri}@tail", dataset=dataset, source_offset=src.comp_pos)
    elif src.truncated:
        yield reject(ctx, reason="truncated_archive",
                     detail=f"file ends inside a compressed member that starts at byte {src.comp_pos}",
                     source_uri=uri, source_record=f"{uri}@tail", dataset=dataset, source_offset=src.comp_pos)


def _record(rec, rtype: str, uri: str, dataset: str, offset, ctx: IngestContext) -> dict:
    rid = rec.record_id or f"{uri}@{rec.stream_pos}"
    url = rec.headers.get("WARC-Target-URI")
    expected = rec.content_length

    def rej(reason: str, detail: str, doc_id=None) -> dict:
        return reject(ctx, reason=reason, detail=detail, source_uri=uri, source_record=rid,
                      dataset=dataset, doc_id=doc_id, source_offset=offset)

    if expected > ctx.max_body_bytes:   # decided from the length: the body is skipped in 1 MiB pieces
        while rec.reader.read(1 << 20):
            pass
        return rej("too_large", f"body of {expected} bytes exceeds {ctx.max_body_bytes}")
    body = rec.reader.read(expected)
    if len(body) < expected:
        return rej("truncated_record", f"record body has {len(body)} of {expected} bytes")
    status, headers, charset_hdr = None, {}, None
    if rtype == "response":
        if rec.http_headers is None:
            return rej("bad_http", "response record without parsable HTTP headers")
        status = rec.http_headers.status_code
        headers = {k.lower(): v for k, v in rec.http_headers.items() if k.lower() in KEEP_HEADERS}
        mime, charset_hdr = rec.http_content_type, rec.http_charset
        if status != 200:
            return rej("http_status", f"HTTP status {status}")
    elif rtype == "conversion":
        mime = "text/plain"
        charset_hdr = "utf-8"
    else:
        mime = mime_of(rec.headers.get("Content-Type"))
    mime = mime_of(mime) or ("text/html" if rtype == "response" else "text/plain")
    if rtype == "response" and mime in ctx.image_content_types:
        return _image(body, mime, rid, url, uri, dataset, offset, ctx, rej)
    if mime not in ctx.text_content_types:
        return rej("unsupported_content_type", f"content type {mime}")
    if not body.strip():
        return rej("empty_body", "record has no body")
    content_sha = sha256_hex(body)
    doc_id = make_doc_id(dataset, rid, content_sha)
    is_html = mime != "text/plain"
    try:
        text, charset = decode_body(body, charset_hdr, is_html)
    except DecodeError as e:
        return rej("decode_error", str(e), doc_id)
    lang = rec.headers.get("WARC-Identified-Content-Language") or headers.get("content-language")
    meta = robots_meta(text) if is_html else None
    if meta:                     # <meta name=robots> beside X-Robots-Tag: the license gate reads both
        headers["meta-robots"] = meta
    row = lineage(ctx, doc_id=doc_id, source_uri=uri, source_record=rid, dataset=dataset,
                  license=ctx.license_for(dataset, license_from_html(text) if is_html else None),
                  content_sha256=content_sha)
    row.update(url=url, host=host_of(url), fetch_time=rec.record_date, record_type=rtype,
               source_offset=offset, content_type=mime, charset=charset, http_status=status,
               http_headers=headers or None, lang_hint=lang, content_format="html" if is_html else "text",
               byte_length=len(body), text=text, image_refs=image_refs(text, url) if is_html else None)
    return row


def _image(body: bytes, mime: str, rid: str, url: str | None, uri: str, dataset: str, offset, ctx: IngestContext,
           rej) -> dict:
    """An image response -> a bronze.media row (bytes inline up to ingest.media.inline_max_bytes,
    else a reference: source_uri + source_offset), probed like an image file."""
    if not body:
        return rej("empty_body", "record has no body")
    sha = sha256_hex(body)
    doc_id = make_doc_id(dataset, rid, sha)
    try:
        info = probe_image(io.BytesIO(body))
    except CorruptMedia as e:
        return rej(e.reason, str(e), doc_id)
    row = lineage(ctx, doc_id=doc_id, source_uri=uri, source_record=rid, dataset=dataset,
                  license=ctx.license_for(dataset, None), content_sha256=sha)
    row.update(media_type="image", mime_type=info.get("mime_type") or mime, size_bytes=len(body),
               width=info["width"], height=info["height"], codec=info["codec"], url=url, host=host_of(url),
               source_offset=offset, content=body if len(body) <= ctx.inline_media_bytes else None)
    return row


def read_record(stream, offset: int) -> bytes:
    """The HTTP body of the response record at `offset` (a gzip member's start, or a record's
    start in an uncompressed WARC): how the media stages read an image kept by reference."""
    stream.seek(offset)
    for rec in ArchiveIterator(stream, record_types=WarcRecordType.response, parse_http=True):
        return rec.reader.read()
    raise ValueError(f"no WARC response record at offset {offset}")
