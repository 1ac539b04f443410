"""Building bronze rows and reject rows on executors, and the Arrow schema they travel in.

One partition's output mixes kept records and rejects: a row is a reject when `reason` is
set. `IngestContext` carries what every row of a run shares (run id, dataset, defaults).
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pyarrow as pa

from pipelines.ingest.decode import normalize_license


@dataclass
class IngestContext:
    run_id: str
    pipeline_version: str
    processed_at: datetime
    default_license: str
    dataset_licenses: dict                 # dataset -> license
    max_body_bytes: int
    text_content_types: tuple
    image_content_types: tuple
    fields: dict                           # role -> candidate field names
    inline_media_bytes: int
    stage: str = "ingest"

    def license_for(self, dataset: str, stated: str | None) -> str:
        return (normalize_license(stated) or normalize_license(self.dataset_licenses.get(dataset))
                or self.default_license)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_doc_id(dataset: str, record_key: str, content_sha256: str) -> str:
    """Stable, content-derived id: the same record of the same dataset always maps here."""
    return sha256_hex(f"{dataset}\x1f{record_key}\x1f{content_sha256}".encode())[:32]


def host_of(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).hostname
    except ValueError:
        return None


def basename(uri: str) -> str:
    return os.path.basename(uri.rstrip("/"))


# -- Arrow schemas of the executor output ---------------------------------------------------
_LINEAGE = [
    ("doc_id", pa.string()), ("source_uri", pa.string()), ("source_record", pa.string()),
    ("dataset", pa.string()), ("license", pa.string()), ("content_sha256", pa.string()),
    ("parent_ids", pa.list_(pa.string())), ("ingest_run_id", pa.string()), ("run_id", pa.string()),
    ("stage", pa.string()), ("processed_at", pa.timestamp("us", tz="UTC")), ("pipeline_version", pa.string()),
]
_REJECT = [("reason", pa.string()), ("detail", pa.string())]

DOC_OUTCOME = pa.schema(_LINEAGE + [
    ("url", pa.string()), ("host", pa.string()), ("fetch_time", pa.timestamp("us", tz="UTC")),
    ("record_type", pa.string()), ("source_offset", pa.int64()), ("content_type", pa.string()),
    ("charset", pa.string()), ("http_status", pa.int32()),
    ("http_headers", pa.map_(pa.string(), pa.string())), ("lang_hint", pa.string()),
    ("content_format", pa.string()), ("byte_length", pa.int64()), ("text", pa.large_string()),
    ("image_refs", pa.list_(pa.struct([("url", pa.string()), ("alt", pa.string()), ("caption", pa.string())]))),
    # a WARC image response is a bronze.media row: media_type set (pipelines/ingest/warc.py)
    ("media_type", pa.string()), ("mime_type", pa.string()), ("size_bytes", pa.int64()), ("width", pa.int32()),
    ("height", pa.int32()), ("codec", pa.string()), ("content", pa.large_binary()),
] + _REJECT)

MEDIA_OUTCOME = pa.schema(_LINEAGE + [
    ("media_type", pa.string()), ("mime_type", pa.string()), ("size_bytes", pa.int64()),
    ("modification_time", pa.timestamp("us", tz="UTC")), ("duration_s", pa.float64()),
    ("width", pa.int32()), ("height", pa.int32()), ("sample_rate", pa.int32()), ("channels", pa.int32()),
    ("codec", pa.string()), ("content", pa.large_binary()), ("lang_hint", pa.string()), ("url", pa.string()),
    ("source_offset", pa.int64()), ("provenance", pa.map_(pa.string(), pa.string())),
] + _REJECT)


def lineage(ctx: IngestContext, *, doc_id, source_uri, source_record, dataset, license, content_sha256) -> dict:
    return {
        "doc_id": doc_id, "source_uri": source_uri, "source_record": source_record, "dataset": dataset,
        "license": license, "content_sha256": content_sha256, "parent_ids": [],
        "ingest_run_id": ctx.run_id, "run_id": ctx.run_id, "stage": ctx.stage,
        "processed_at": ctx.processed_at, "pipeline_version": ctx.pipeline_version,
        "reason": None, "detail": None,
    }


def reject(ctx: IngestContext, *, reason: str, detail: str, source_uri: str, source_record: str,
           dataset: str, doc_id: str | None = None, source_offset: int | None = None) -> dict:
    """A reject row in the outcome schema (only the columns ops.rejects needs are filled)."""
    return {
        "doc_id": doc_id, "source_uri": source_uri, "source_record": source_record, "dataset": dataset,
        "run_id": ctx.run_id, "ingest_run_id": ctx.run_id, "stage": ctx.stage,
        "processed_at": ctx.processed_at, "pipeline_version": ctx.pipeline_version,
        "source_offset": source_offset, "reason": reason, "detail": detail[:1000],
    }


def now_utc() -> datetime:
    return datetime.now(UTC)
