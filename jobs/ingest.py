"""Ingest stage: WARC/WET, JSONL (.gz/.zst) and Parquet dumps -> bronze.documents; media -> bronze.media.

    spark-submit jobs/ingest.py --dataset cc-2026-44 s3a://crawl/2026-44/*.warc.gz
    lakehouse ingest --dataset my-dump ./dumps/ --license CC-BY-4.0
    lakehouse ingest --dataset podcasts --manifest media/manifest.jsonl

Files already ingested (same URI, size and modification time in ops.ingest_files) are
skipped unless --force; rows are MERGEd on doc_id, so a rerun or a resumed run adds nothing
twice. Every record read ends as a bronze row or an ops.rejects row.
"""
from __future__ import annotations

import logging
import sys
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.config import ConfigError
from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version, reject_rows, write_rejects
from pipelines.ingest import FILES_SCHEMA, context_from_config, list_inputs, parse_files, read_manifest

log = logging.getLogger("lakehouse")
STAGE = "ingest"


def split_outcomes(outcomes: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(kept rows, reject rows). A doc_id seen twice in one run keeps its first occurrence;
    the others become `duplicate_record` rejects (an insert-only MERGE would add both).

    Duplicates are found by aggregating doc_ids alone; the window over whole rows runs only
    for the (rare) duplicated ids."""
    good = outcomes.filter(F.col("reason").isNull()).drop("reason", "detail")
    bad = outcomes.filter(F.col("reason").isNotNull())
    dup_ids = good.groupBy("doc_id").count().filter("count > 1").select("doc_id").collect()
    if not dup_ids:
        return good, bad
    ids = outcomes.sparkSession.createDataFrame([(r.doc_id,) for r in dup_ids], "doc_id string")
    ids = F.broadcast(ids) if len(dup_ids) < 1_000_000 else ids
    w = Window.partitionBy("doc_id").orderBy("source_uri", "source_record")
    dups = good.join(ids, "doc_id").withColumn("_n", F.row_number().over(w))
    kept = good.join(ids, "doc_id", "left_anti").unionByName(dups.filter("_n = 1").drop("_n"))
    extra = (dups.filter("_n > 1").drop("_n").withColumn("reason", F.lit("duplicate_record"))
             .withColumn("detail", F.lit("same doc_id as another record of this run")))
    return kept, bad.unionByName(extra)


def file_rows(spark: SparkSession, files: list[dict], outcomes: DataFrame, run_id: str) -> DataFrame:
    stats = outcomes.groupBy(F.col("source_uri").alias("file_uri")).agg(
        F.count("*").alias("records_in"), F.sum(F.when(F.col("reason").isNull(), 1).otherwise(0)).alias("records_kept"))
    return (spark.createDataFrame(files, FILES_SCHEMA).join(stats, "file_uri", "left")
            .select("file_uri", "size_bytes", (F.col("mtime_ms") / 1000).cast("timestamp").alias("modification_time"),
                    "format", "dataset", F.coalesce("records_in", F.lit(0)).alias("records_in"),
                    F.coalesce("records_kept", F.lit(0)).alias("records_kept"),
                    (F.coalesce("records_in", F.lit(0)) - F.coalesce("records_kept", F.lit(0)))
                    .alias("records_rejected"),
                    F.lit(run_id).alias("run_id"), F.current_timestamp().alias("ingested_at")))


def skip_ingested(lake: Lake, files: list[dict]) -> list[dict]:
    if not files or not lake.exists("ops.ingest_files"):
        return files
    seen = {(r.file_uri, r.size_bytes, int(r.modification_time.timestamp() * 1000) // 1000)
            for r in lake.read("ops.ingest_files").select("file_uri", "size_bytes", "modification_time")
            .join(lake.spark.createDataFrame([(f["file_uri"],) for f in files], "file_uri string"), "file_uri")
            .collect()}
    return [f for f in files if (f["file_uri"], f["size_bytes"], f["mtime_ms"] // 1000) not in seen]


def run_ingest(spark: SparkSession, lake: Lake, cfg: dict, inputs: list[str], dataset: str,
               license: str | None = None, manifest: str | None = None, force: bool = False) -> dict:
    """Ingest the inputs into the lake; returns the run summary (also in ops.runs)."""
    args = {"inputs": inputs, "dataset": dataset, "license": license, "manifest": manifest, "force": force}
    with StageRun(lake, STAGE, cfg, args) as run:
        files = list_inputs(spark, inputs, dataset, license) if inputs else []
        if manifest:
            files += read_manifest(spark, manifest, dataset)
        files = list({f["file_uri"]: f for f in files}.values())
        run.inputs("ops.ingest_files")
        todo = files if force else skip_ingested(lake, files)
        n_bytes = sum(f["size_bytes"] for f in todo)
        log.info("ingest %s: %d files listed, %d to read (%.1f MB)", dataset, len(files), len(todo), n_bytes / 1e6)
        ctx = context_from_config(cfg, run.run_id, pipeline_version())
        t0 = time.monotonic()
        text_files = [f for f in todo if f["format"] != "media"]
        media_files = [f for f in todo if f["format"] == "media"]
        docs_out = parse_files(spark, text_files, ctx).persist(StorageLevel.MEMORY_AND_DISK)
        media_out = parse_files(spark, media_files, ctx, media=True).persist(StorageLevel.MEMORY_AND_DISK)
        timer = Timer(run)
        try:
            with timer("parse_seconds"):
                rows_in = docs_out.count() + media_out.count()
            with timer("split_seconds"):
                docs, doc_rej = split_outcomes(docs_out)
                media, media_rej = split_outcomes(media_out)
                kept = docs.count() + media.count()
            with timer("merge_bronze_seconds"):
                written = lake.merge_insert("bronze.documents", docs, source_persisted=True) if text_files else 0
                if media_files:
                    written += lake.merge_insert("bronze.media", media, source_persisted=True)
            with timer("merge_rejects_seconds"):
                rejects = reject_rows(doc_rej.unionByName(media_rej, allowMissingColumns=True), STAGE, run.run_id,
                                      "reason", "detail")
                rejected = rejects.count()
                if rejected:
                    write_rejects(lake, rejects)
            with timer("merge_files_seconds"):
                if todo:
                    out = docs_out.select("source_uri", "reason").unionByName(media_out.select("source_uri", "reason"))
                    lake.merge_insert("ops.ingest_files", file_rows(spark, todo, out, run.run_id), check=False)
        finally:
            docs_out.unpersist()
            media_out.unpersist()
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=written)
        secs = time.monotonic() - t0
        for k, v in {"files": len(todo), "bytes": n_bytes, "seconds": secs,
                     "records_per_s": rows_in / secs if secs else 0,
                     "mb_per_s": n_bytes / 1e6 / secs if secs else 0}.items():
            run.metric(k, v)
        summary = {"run_id": run.run_id, "dataset": dataset, "files": len(todo), "bytes": n_bytes,
                   "rows_in": rows_in, "kept": kept, "rejected": rejected, "written": written,
                   "seconds": round(secs, 2)}
    log.info("ingest %s done: %s", dataset, summary)
    return summary


def run_inputs(spark: SparkSession, lake: Lake, cfg: dict) -> dict:
    """The pipeline's ingest: every `nightly.inputs` entry, one run each; files already in
    ops.ingest_files are skipped."""
    inputs = cfg["nightly"]["inputs"]
    if not inputs:
        raise ConfigError("nightly.inputs is empty: list {dataset, paths, license?, manifest?} entries to ingest")
    runs = [run_ingest(spark, lake, cfg, e["paths"], e["dataset"], license=e["license"], manifest=e["manifest"])
            for e in inputs]
    return {"files": sum(r["files"] for r in runs), "rows_in": sum(r["rows_in"] for r in runs),
            "kept": sum(r["kept"] for r in runs), "rejected": sum(r["rejected"] for r in runs),
            "datasets": sorted({r["dataset"] for r in runs}), "run_ids": [r["run_id"] for r in runs]}


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse ingest", __doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="*", help="files, folders or globs (local, s3a://, hdfs://)")
    ap.add_argument("--dataset", required=True, help="dataset name recorded on every row")
    ap.add_argument("--license", help="license of the dataset where a record states none (e.g. CC-BY-4.0)")
    ap.add_argument("--manifest", help="JSONL media manifest: one {\"path\", \"license\"?, \"dataset\"?} per line")
    ap.add_argument("--force", action="store_true", help="re-read files already ingested (rows still MERGE)")
    args = ap.parse_args(argv)
    if not args.inputs and not args.manifest:
        ap.error("give input paths and/or --manifest")
    cfg, spark, lake = open_lake(args, "lakehouse-ingest")
    summary = run_ingest(spark, lake, cfg, args.inputs, args.dataset, args.license, args.manifest, args.force)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
