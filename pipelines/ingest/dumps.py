"""JSONL (plain, .gz, .zst) and Parquet dumps -> bronze.documents rows.

Field names are looked up from config (`ingest.fields`): the first present of each role.
Reject reasons: decode_error (line not UTF-8), bad_json, missing_text, empty_body,
too_large; for the file: truncated_archive, corrupt_archive, corrupt_file.
"""
from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime

from pipelines.ingest.records import IngestContext, host_of, lineage, make_doc_id, reject, sha256_hex
from pipelines.ingest.streams import Decompressed


def _pick(obj: dict, names: list[str]):
    for n in names:
        v = obj.get(n)
        if v is not None and v != "":
            return v
    return None


def _timestamp(v) -> datetime | None:
    if v is None:
        return None
    try:
        if isinstance(v, datetime):
            return v if v.tzinfo else v.replace(tzinfo=UTC)
        if isinstance(v, (int, float)):
            return datetime.fromtimestamp(v / 1000 if v > 1e11 else v, tz=UTC)
        d = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
        return d if d.tzinfo else d.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        return None


def looks_like_html(text: str) -> bool:
    head = text.lstrip()[:512].lower()
    return head.startswith("<") and ("<html" in head or "<!doctype html" in head or "<body" in head)


def _utf8(value) -> str | None:
    """A string field as stored: None if absent, UnicodeEncodeError if it holds a lone surrogate
    (JSON's "\\ud800" decodes to one; Arrow cannot store it)."""
    if value is None:
        return None
    value = str(value)
    value.encode("utf-8")
    return value


def object_to_row(obj: dict, key_default: str, source_record: str, offset: int | None, rtype: str,
                  uri: str, dataset: str, ctx: IngestContext) -> dict:
    """One dump record (a dict) -> a bronze row or a reject row."""
    fields = ctx.fields

    def rej(reason: str, detail: str) -> dict:
        return reject(ctx, reason=reason, detail=detail, source_uri=uri, source_record=source_record,
                      dataset=dataset, source_offset=offset)
    text = _pick(obj, fields["text"])
    if text is None or not isinstance(text, str):
        return rej("missing_text", f"no string field among {fields['text']}")
    if not text.strip():
        return rej("empty_body", "text field is empty")
    try:
        raw = text.encode("utf-8")
        rid, url, lang = (_utf8(_pick(obj, fields[k])) for k in ("id", "url", "lang"))
        stated = _utf8(_pick(obj, fields["license"]))
    except UnicodeEncodeError as e:
        return rej("decode_error", f"a field holds an unpaired surrogate (not UTF-8): {e.reason}")
    if len(raw) > ctx.max_body_bytes:
        return rej("too_large", f"text of {len(raw)} bytes exceeds {ctx.max_body_bytes}")
    content_sha = sha256_hex(raw)
    doc_id = make_doc_id(dataset, rid if rid is not None else key_default, content_sha)
    row = lineage(ctx, doc_id=doc_id, source_uri=uri, source_record=source_record, dataset=dataset,
                  license=ctx.license_for(dataset, stated), content_sha256=content_sha)
    row.update(url=url, host=host_of(url), fetch_time=_timestamp(_pick(obj, fields["timestamp"])),
               record_type=rtype, source_offset=offset, content_type=None, charset="utf-8",
               http_status=None, http_headers=None, lang_hint=lang,
               content_format="html" if looks_like_html(text) else "text", byte_length=len(raw), text=text)
    return row


def _lines(reader, limit: int) -> Iterator[tuple[bytes, int]]:
    """(line, its length in bytes) of a byte stream; a line longer than `limit` comes back as
    b"" (with its full length) and is skipped in 1 MiB pieces, so one huge line never sits in
    memory."""
    while True:
        line = reader.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line, len(line)
            continue
        n = len(line)
        while line and not line.endswith(b"\n"):
            line = reader.readline(1 << 20)
            n += len(line)
        yield b"", n


def iter_jsonl(stream, uri: str, dataset: str, ctx: IngestContext) -> Iterator[dict]:
    src = Decompressed(stream)
    if src.mismatch(uri):
        yield reject(ctx, reason="corrupt_archive", detail=src.mismatch(uri), source_uri=uri,
                     source_record=f"{uri}@0", dataset=dataset)
        return
    reader = io.BufferedReader(src, buffer_size=1 << 20)
    limit = 2 * ctx.max_body_bytes + 4096     # JSON escaping can double the text's size
    offset, lineno = 0, 0
    for line, size in _lines(reader, limit):
        lineno += 1
        start, offset = offset, offset + size
        rec = f"{uri}:line={lineno}"
        if size and not line:
            yield reject(ctx, reason="too_large", detail=f"line of {size} bytes is over {limit}", source_uri=uri,
                         source_record=rec, dataset=dataset, source_offset=start)
            continue
        if not line.strip():
            continue
        if not line.endswith(b"\n") and (src.truncated or src.error):
            break  # the last, cut-off line belongs to the archive reject below
        try:
            obj = json.loads(line.decode("utf-8-sig" if lineno == 1 else "utf-8"))   # a BOM may open the file
        except UnicodeDecodeError as e:
            yield reject(ctx, reason="decode_error", detail=f"line is not UTF-8: {e.reason} at byte {e.start}",
                         source_uri=uri, source_record=rec, dataset=dataset, source_offset=start)
            continue
        except json.JSONDecodeError as e:
            yield reject(ctx, reason="bad_json", detail=f"{e.msg} at column {e.colno}",
                         source_uri=uri, source_record=rec, dataset=dataset, source_offset=start)
            continue
        except RecursionError:
            yield reject(ctx, reason="bad_json", detail="JSON nested too deeply", source_uri=uri,
                         source_record=rec, dataset=dataset, source_offset=start)
            continue
        if not isinstance(obj, dict):
            yield reject(ctx, reason="bad_json", detail=f"line holds a {type(obj).__name__}, not an object",
                         source_uri=uri, source_record=rec, dataset=dataset, source_offset=start)
            continue
        yield object_to_row(obj, f"{uri}:{lineno}", rec, start, "jsonl", uri, dataset, ctx)
    if src.error:
        yield reject(ctx, reason="corrupt_archive", detail=f"compressed data corrupt near byte {src.comp_pos}: "
                     f"{src.error}", source_uri=uri, source_record=f"{uri}@tail", dataset=dataset)
    elif src.truncated:
        yield reject(ctx, reason="truncated_archive", detail=f"file ends inside a compressed member after "
                     f"line {lineno}", source_uri=uri, source_record=f"{uri}@tail", dataset=dataset)


def iter_parquet(stream, uri: str, dataset: str, ctx: IngestContext) -> Iterator[dict]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(stream)
    except (pa.ArrowException, OSError, ValueError) as e:   # a damaged or foreign footer
        yield reject(ctx, reason="corrupt_file", detail=f"not a readable Parquet file: {e}",
                     source_uri=uri, source_record=f"{uri}@footer", dataset=dataset)
        return
    wanted = {n for names in ctx.fields.values() for n in names}
    cols = [c for c in pf.schema_arrow.names if c in wanted]
    row_no = 0
    try:
        for batch in pf.iter_batches(batch_size=1000, columns=cols):
            for obj in batch.to_pylist():
                yield object_to_row(obj, f"{uri}:{row_no}", f"{uri}:row={row_no}", None, "parquet",
                                    uri, dataset, ctx)
                row_no += 1
    except (pa.ArrowException, OSError, ValueError) as e:   # a damaged page or column chunk
        yield reject(ctx, reason="corrupt_file", detail=f"Parquet read failed after row {row_no}: {e}",
                     source_uri=uri, source_record=f"{uri}@row={row_no}", dataset=dataset)
