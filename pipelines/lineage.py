"""The story of a document or of an export shard, read from the lake's Delta tables.

A document: where its bytes came from (source file, WARC record id or file:line, byte
offset), what each stage did with it (run id, stage, config hash, code version of every
run that wrote or dropped it), its license decision and the PII found in it (types,
counts, offsets; never values), why it was dropped if it was, its tokens and the shards
that hold it. A shard: its files and checksums, the gold.tokens version it was cut from,
its documents and the sources and datasets they came from. Every answer is a handful of
Delta SQL queries; `QUERIES` holds them so users can run them by hand. Driver-side: the
functions take the job's lake handle (jobs/common/lake.py Lake).
"""
from __future__ import annotations

from pyspark.sql import functions as F

QUERIES = {
    "source": "SELECT doc_id, dataset, license, url, source_uri, source_record, source_offset, fetch_time, "
              "ingest_run_id FROM bronze.documents WHERE doc_id = '{doc_id}'",
    "clean": "SELECT decision, reason, lang, lang_score, quality_score, quality_tier, run_id "
             "FROM silver.text_signals WHERE doc_id = '{doc_id}'",
    "silver": "SELECT lang, quality_tier, dup_cluster_id, dup_cluster_size, dup_keep, stage, run_id "
              "FROM silver.documents WHERE doc_id = '{doc_id}'",
    "pii": "SELECT license, license_status, robots_tag, pii_count, pii_types, pii_policy, run_id "
           "FROM silver.redacted_documents WHERE doc_id = '{doc_id}'",
    "pii_audit": "SELECT entity_type, recognizer, action, count, starts, ends, doc_outcome, run_id "
                 "FROM silver.pii_audit WHERE doc_id = '{doc_id}'",
    "rejects": "SELECT stage, reason, detail, ref_doc_id, run_id, rejected_at FROM ops.rejects "
               "WHERE doc_id = '{doc_id}'",
    "media": "SELECT doc_id, dataset, license, source_uri, source_record, url, media_type, codec, duration_s, "
             "sample_rate, width, height, lang_hint, ingest_run_id FROM bronze.media WHERE doc_id IN ({media_ids})",
    "segment": "SELECT parent_ids[0] AS file_id, source_record, segment, start_s, end_s, decision, reason, signals, "
               "dup_cluster_id, dup_keep, dup_ref, dup_ber, dup_hamming, text, text_source, pair_doc_id, run_id "
               "FROM silver.media_segments "
               "WHERE doc_id = '{doc_id}'",
    "tokens": "SELECT modality, segment, n_tokens, vocab_version, start_s, end_s, tokenizer, run_id FROM gold.tokens "
              "WHERE doc_id = '{doc_id}'",
    "shards": "SELECT e.export_id, e.shard, e.path_prefix, e.bin_sha256, e.input_versions['gold.tokens'] AS "
              "gold_version, d.copies, e.run_id FROM gold.export_docs d JOIN gold.exports e ON e.export_id = "
              "d.export_id AND array_contains(d.shards, e.shard) WHERE d.doc_id = '{doc_id}'",
    "runs": "SELECT run_id, stage, status, config_hash, code_version, started_at FROM ops.runs "
            "WHERE run_id IN ({run_ids})",
}


def _rows(lake, table: str, query: str) -> list[dict]:
    if not lake.exists(table):
        return []
    return [r.asDict(recursive=True) for r in lake.spark.sql(query).collect()]


def _quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "\\'")


def doc_story(lake, doc_id: str) -> dict:
    """Everything the lake knows about one document, stage by stage."""
    lake.activate()
    q = {k: v.format(doc_id=_quote(doc_id)) for k, v in QUERIES.items() if k not in ("runs", "media")}
    segment = _rows(lake, "silver.media_segments", q["segment"])
    media_ids = ", ".join(f"'{_quote(i)}'" for i in [doc_id, *[s["file_id"] for s in segment]])
    story = {
        "doc_id": doc_id,
        "source": _rows(lake, "bronze.documents", q["source"]),
        "media": _rows(lake, "bronze.media", QUERIES["media"].format(media_ids=media_ids)),
        "segment": segment,
        "clean": _rows(lake, "silver.text_signals", q["clean"]),
        "silver": _rows(lake, "silver.documents", q["silver"]),
        "pii": _rows(lake, "silver.redacted_documents", q["pii"]),
        "pii_audit": _rows(lake, "silver.pii_audit", q["pii_audit"]),
        "rejects": _rows(lake, "ops.rejects", q["rejects"]),
        "tokens": _rows(lake, "gold.tokens", q["tokens"]),
        "shards": _rows(lake, "gold.export_docs", q["shards"]),
    }
    parts = ("clean", "silver", "segment", "pii", "pii_audit", "rejects", "tokens", "shards")
    run_ids = sorted({r["run_id"] for part in parts for r in story[part]}
                     | {r["ingest_run_id"] for r in story["source"] + story["media"]})
    story["runs"] = _rows(lake, "ops.runs", QUERIES["runs"].format(
        run_ids=", ".join(f"'{_quote(r)}'" for r in run_ids))) if run_ids else []
    story["found"] = any(story[k] for k in ("source", "media", "segment", "clean", "silver", "rejects", "tokens"))
    story["status"] = ("dropped" if story["rejects"] else "exported" if story["shards"]
                       else "tokenized" if story["tokens"] else "redacted" if story["pii"]
                       else "in silver" if story["silver"] or story["segment"]
                       else "in bronze" if story["source"] or story["media"] else "unknown")
    return story


def shard_story(lake, shard: str, max_docs: int = 50) -> dict:
    """A shard named `<export_id>:<n>` or by its path prefix (with or without .bin/.idx): its
    files, checksums and inputs, the sources of its documents (aggregated in Spark) and the
    first `max_docs` of its doc ids (all are counted)."""
    lake.activate()
    if not lake.exists("gold.exports"):
        return {"shard": shard, "found": False}
    ex = lake.read("gold.exports")
    if ":" in shard and not shard.startswith("/"):
        export_id, n = shard.rsplit(":", 1)
        rows = ex.where((F.col("export_id") == export_id) & (F.col("shard") == int(n))).collect()
    else:
        prefix = shard.removesuffix(".bin").removesuffix(".idx")
        rows = ex.where(F.col("path_prefix") == prefix).collect()
    if not rows:
        return {"shard": shard, "found": False}
    row = rows[0].asDict(recursive=True)
    docs = (lake.read("gold.export_docs").where((F.col("export_id") == row["export_id"])
                                                & F.array_contains("shards", row["shard"])).select("doc_id")
            if lake.exists("gold.export_docs") else lake.spark.createDataFrame([], "doc_id string"))
    doc_ids = [r.doc_id for r in docs.orderBy("doc_id").limit(max_docs).collect()]
    sources = []
    if lake.exists("bronze.documents"):
        sources = [r.asDict() for r in lake.read("bronze.documents").join(docs, "doc_id")
                   .groupBy("dataset", "source_uri").agg(F.count("*").alias("docs"))
                   .orderBy(F.desc("docs"), "source_uri").collect()]
    run = _rows(lake, "ops.runs", QUERIES["runs"].format(run_ids=f"'{_quote(row['run_id'])}'"))
    return {"shard": shard, "found": True, "export_id": row["export_id"], "index": row["shard"],
            "modality": row["modality"], "path_prefix": row["path_prefix"],
            "checksums": {"bin": row["bin_sha256"], "idx": row["idx_sha256"], "docs": row["docs_sha256"]},
            "n_sequences": row["n_sequences"], "n_tokens": row["n_tokens"], "n_docs": row["n_docs"],
            "input_versions": row["input_versions"], "vocab_version": row["vocab_version"],
            "doc_ids": doc_ids, "sources": sources, "run": run}
