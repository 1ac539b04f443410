"""Shard writing on executors: packed sequences -> Megatron indexed datasets (.bin/.idx).

Each Spark task receives whole shards (rows partitioned by (modality, shard) and sorted by
a seeded key; a video's shots together, in time order), packs their documents
(tokenize_jobs/pack.py) and writes each packed sequence as one Megatron document with
megatron-core's own IndexedDatasetBuilder, plus a `<prefix>.docs.parquet` of document spans
per sequence. The prefix is a local path or a URI (s3a://, hdfs://: pipelines/uris.py
filesystem). Files are written under temporary names unique to the task attempt (a retried
or speculative attempt never writes into another one's files) and checksummed; a local or
HDFS file is then renamed into place, an object-store file uploaded whole, visible only
when complete. The task yields one `shard` row per
shard and one `doc` row per document of it (doc_id, segment, copies): the export's document
list is written by the executors, never gathered on the driver.
"""
from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipelines.uris import filesystem, local_path, publish
from quality_models.models import sha256_file
from tokenize_jobs.pack import pack

SHARD_FIELDS = [("path_prefix", pa.string()), ("bin_sha256", pa.string()), ("idx_sha256", pa.string()),
                ("docs_sha256", pa.string()), ("bytes", pa.int64()), ("n_sequences", pa.int64()),
                ("n_tokens", pa.int64()), ("n_pad", pa.int64()), ("n_docs", pa.int64())]
DOC_FIELDS = [("doc_id", pa.string()), ("segment", pa.int32()), ("copies", pa.int32())]
# what the writer tasks yield: kind = shard (the SHARD_FIELDS set) or doc (the DOC_FIELDS set)
WRITER_OUT = pa.schema([("kind", pa.string()), ("modality", pa.string()), ("shard", pa.int32()),
                        *SHARD_FIELDS, *DOC_FIELDS])
SPANS = pa.schema([("seq", pa.int64()), ("doc_id", pa.string()), ("copy", pa.int32()), ("start", pa.int32()),
                   ("length", pa.int32()), ("piece", pa.int32()), ("n_pieces", pa.int32())])


def shard_prefix(out_dir: str, modality: str, shard: int) -> str:
    return f"{out_dir.rstrip('/')}/{modality}/{modality}_{shard:05d}"


def _build(tmp: str, docs, seq_length: int, eod: int, pad: int, open_max: int, cont: int | None) -> dict:
    """Pack into tmp.bin/.idx/.docs.parquet (local files)."""
    import torch
    from megatron.core.datasets.indexed_dataset import IndexedDatasetBuilder

    builder = IndexedDatasetBuilder(tmp + ".bin", dtype=np.int32)
    spans = {k: [] for k in SPANS.names}
    n_seq = n_pad = 0
    doc_ids: set[str] = set()
    for seq in pack(docs, seq_length, eod, pad, open_max, cont):
        builder.add_item(torch.from_numpy(seq.tokens))
        builder.end_document()
        for doc_id, copy, start, length, piece, n_pieces in seq.spans:
            for k, v in zip(SPANS.names, (n_seq, doc_id, copy, start, length, piece, n_pieces)):
                spans[k].append(v)
            doc_ids.add(doc_id)
        n_seq += 1
        n_pad += seq.n_pad
    builder.finalize(tmp + ".idx")
    pq.write_table(pa.table(spans, schema=SPANS), tmp + ".docs.parquet", compression="zstd")
    meta = {f"{k}_sha256": sha256_file(tmp + ext) for k, ext in EXTS.items()}
    return {**meta, "bytes": sum(os.path.getsize(tmp + e) for e in EXTS.values()),
            "n_sequences": n_seq, "n_tokens": n_seq * seq_length - n_pad, "n_pad": n_pad, "n_docs": len(doc_ids)}


EXTS = {"bin": ".bin", "idx": ".idx", "docs": ".docs.parquet"}


def write_shard(prefix: str, docs, seq_length: int, eod: int, pad: int, open_max: int,
                cont: int | None = None, s3: dict | None = None) -> dict:
    """Pack `docs` ((doc_id, copy, ids[, cuts]) in order) into `prefix`.bin/.idx/.docs.parquet."""
    import tempfile

    fs, path = filesystem(prefix, s3)
    attempt = uuid.uuid4().hex[:12]                     # this attempt's own files
    if local_path(prefix) is not None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{attempt}.tmp"
        meta = _build(tmp, docs, seq_length, eod, pad, open_max, cont)
        for ext in EXTS.values():
            os.replace(tmp + ext, path + ext)
        return {"path_prefix": path, **meta}
    with tempfile.TemporaryDirectory(prefix="lakehouse-shard-") as d:
        tmp = os.path.join(d, attempt)
        meta = _build(tmp, docs, seq_length, eod, pad, open_max, cont)
        for ext in EXTS.values():
            publish(tmp + ext, fs, path + ext)
    return {"path_prefix": prefix, **meta}


def shard_writer_fn(out_dir: str, seq_length: int, eod: int, pad: int, open_max: int = 64, cont: int | None = None,
                    s3: dict | None = None):
    """mapInArrow body over rows (modality, shard, doc_id, segment, copy, tokens, cuts) sorted
    by (modality, shard, key): writes each shard, yields WRITER_OUT rows."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        def rows():
            for b in batches:
                toks = b.column("tokens")
                offsets = toks.offsets.to_numpy()
                flat = toks.values.to_numpy(zero_copy_only=False)
                mods, shards = b.column("modality").to_pylist(), b.column("shard").to_pylist()
                ids, segs, copies = (b.column(c).to_pylist() for c in ("doc_id", "segment", "copy"))
                cuts = b.column("cuts").to_pylist() if "cuts" in b.schema.names else [None] * b.num_rows
                for i in range(b.num_rows):
                    yield (mods[i], shards[i]), (ids[i], segs[i], copies[i], flat[offsets[i]:offsets[i + 1]], cuts[i])

        it = rows()
        current = next(it, None)
        while current is not None:
            key = current[0]
            held: dict[tuple[str, int], int] = {}      # (doc_id, segment) -> copies in this shard

            def group():
                nonlocal current
                while current is not None and current[0] == key:  # noqa: B023 (consumed before key moves on)
                    doc_id, segment, copy, ids, cuts = current[1]
                    held[(doc_id, segment)] = held.get((doc_id, segment), 0) + 1  # noqa: B023
                    yield doc_id, copy, ids, cuts
                    current = next(it, None)
            meta = write_shard(shard_prefix(out_dir, key[0], key[1]), group(), seq_length, eod, pad, open_max, cont,
                               s3)
            yield pa.RecordBatch.from_pylist([{"kind": "shard", "modality": key[0], "shard": key[1], **meta}],
                                             schema=WRITER_OUT)
            docs = sorted(held.items())
            cols = {f.name: pa.nulls(len(docs), f.type) for f in WRITER_OUT}
            cols.update(kind=pa.array(["doc"] * len(docs)), modality=pa.array([key[0]] * len(docs)),
                        shard=pa.array([key[1]] * len(docs), pa.int32()), doc_id=pa.array([d for (d, _), _ in docs]),
                        segment=pa.array([s for (_, s), _ in docs], pa.int32()),
                        copies=pa.array([c for _, c in docs], pa.int32()))
            yield pa.RecordBatch.from_pydict(cols, schema=WRITER_OUT)
    return run
