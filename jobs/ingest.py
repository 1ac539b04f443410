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
from jobs.common.runs import StageRun, Timer, check_error_budget, pipeline_version, reject_rows, write_rejects
from pipelines.ingest import FILES_SCHEMA, context_from_config, list_inputs, parse_files, read_manifest
from pipelines.ingest.records import MEDIA_OUTCOME

log = logging.getLogger("lakehouse")
STAGE = "ingest"


ARCHIVE_ERRORS = ("truncated_archive", "corrupt_archive")
ERROR_REASONS = ("probe_error",)        # a library failing, not the data: the error budget


def split_outcomes(outcomes: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(kept rows, reject rows). A doc_id seen more than once in one run keeps one copy: the
    one from a file without archive errors, then the first by file URI and record; the others
    become `duplicate_record` rejects naming the kept record (an insert-only MERGE would add
    them all). Duplicated ids are found by aggregating doc_ids alone; only their rows are
    ranked, and nothing is collected to the driver."""
    good = outcomes.filter(F.col("reason").isNull()).drop("reason", "detail")
    bad = outcomes.filter(F.col("reason").isNotNull())
    dup_ids = good.groupBy("doc_id").count().where("count > 1").select("doc_id")
    if dup_ids.isEmpty():
        return good, bad
    damaged = bad.where(F.col("reason").isin(*ARCHIVE_ERRORS)).select("source_uri").distinct()
    ranked = (good.join(dup_ids, "doc_id", "left_semi").select("doc_id", "source_uri", "source_record")
              .join(damaged.withColumn("damaged", F.lit(True)), "source_uri", "left")
              .withColumn("_n", F.row_number().over(Window.partitionBy("doc_id").orderBy(
                  F.col("damaged").asc_nulls_first(), "source_uri", "source_record"))))
    kept_ref = ranked.where("_n = 1").select("doc_id", F.concat_ws(" ", "source_uri", "source_record").alias("ref"))
    losers = ranked.where("_n > 1").select("doc_id", "source_uri", "source_record").join(kept_ref, "doc_id")
    keys = ["doc_id", "source_uri", "source_record"]
    kept = good.join(losers, keys, "left_anti")
    extra = (good.join(losers, keys).withColumn("reason", F.lit("duplicate_record"))
             .withColumn("detail", F.concat(F.lit("same document as the kept record "), "ref")).drop("ref"))
    return kept, bad.unionByName(extra)


def warc_media(docs_out: DataFrame) -> DataFrame:
    """The bronze.media rows among the WARC outcomes (image responses), in the media outcome's columns."""
    cols = [c for c in MEDIA_OUTCOME.names if c in docs_out.columns]
    return docs_out.where(F.col("media_type").isNotNull()).select(*cols)


def file_rows(spark: SparkSession, files: list[dict], kept: DataFrame, rejects: DataFrame, run_id: str) -> DataFrame:
    """ops.ingest_files rows: per file, the records kept and rejected by this run (their sums
    are the run's)."""
    per_file = (kept.select("source_uri", F.lit(1).alias("k"), F.lit(0).alias("r"))
                .unionByName(rejects.select("source_uri", F.lit(0).alias("k"), F.lit(1).alias("r")))
                .groupBy(F.col("source_uri").alias("file_uri")).agg(F.sum("k").alias("kept"), F.sum("r").alias("rej")))
    kept_n, rej_n = F.coalesce("kept", F.lit(0)), F.coalesce("rej", F.lit(0))
    return (spark.createDataFrame(files, FILES_SCHEMA).join(per_file, "file_uri", "left")
            .select("file_uri", "size_bytes", (F.col("mtime_ms") / 1000).cast("timestamp").alias("modification_time"),
                    "format", "dataset", (kept_n + rej_n).alias("records_in"), kept_n.alias("records_kept"),
                    rej_n.alias("records_rejected"), F.lit(run_id).alias("run_id"),
                    F.current_timestamp().alias("ingested_at")))


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
                docs, doc_rej = split_outcomes(docs_out.where(F.col("media_type").isNull()))
                media, media_rej = split_outcomes(media_out.unionByName(warc_media(docs_out), allowMissingColumns=True))
                n_docs, n_media = docs.count(), media.count()
                rejects = reject_rows(doc_rej.unionByName(media_rej, allowMissingColumns=True), STAGE, run.run_id,
                                      "reason", "detail").localCheckpoint()
                by_reason = {r["reason"]: r["count"] for r in rejects.groupBy("reason").count().collect()}
            check_error_budget(STAGE, by_reason, rows_in, cfg["ingest"]["error_budget"], ERROR_REASONS)
            with timer("merge_bronze_seconds"):
                d_ins, d_kept = lake.insert_counted("bronze.documents", docs, n_docs, source_persisted=True)
                m_ins, m_kept = lake.insert_counted("bronze.media", media, n_media, source_persisted=True)
                written, kept = d_ins + m_ins, d_kept + m_kept
            with timer("merge_rejects_seconds"):
                rejected = write_rejects(lake, rejects, sum(by_reason.values()), STAGE)
            with timer("merge_files_seconds"):
                if todo:
                    kept_uris = docs.select("source_uri").unionByName(media.select("source_uri"))
                    lake.merge_insert("ops.ingest_files", file_rows(spark, todo, kept_uris, rejects, run.run_id),
                                      check=False)
        finally:
            docs_out.unpersist()
            media_out.unpersist()
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=written)
        for reason, n in by_reason.items():
            run.metric(f"rejected.{reason}", n)
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
    """The pipeline's ingest: every `nightly.inputs` entry and what the crawl stage wrote
    (jobs/crawl.py crawl_inputs), one run each; files already in ops.ingest_files are skipped."""
    from jobs.crawl import crawl_inputs

    inputs = list(cfg["nightly"]["inputs"]) + crawl_inputs(lake, cfg)
    if not inputs:
        from jobs.stages import stage

        if stage("crawl").enabled(cfg):
            return {"files": 0, "rows_in": 0, "kept": 0, "rejected": 0, "datasets": [], "run_ids": []}
        raise ConfigError("nightly.inputs is empty: list {dataset, paths, license?, manifest?} entries to ingest")
    runs = [run_ingest(spark, lake, cfg, e["paths"], e["dataset"], license=e["license"], manifest=e["manifest"])
            for e in inputs]
    return {"files": sum(r["files"] for r in runs), "rows_in": sum(r["rows_in"] for r in runs),
            "kept": sum(r["kept"] for r in runs), "rejected": sum(r["rejected"] for r in runs),
            "datasets": sorted({r["dataset"] for r in runs}), "run_ids": [r["run_id"] for r in runs]}


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse ingest", __doc__.split("\n\n")[0])
    ap.add_argument("inputs", nargs="*", help="files, folders or globs (local, s3a://, hdfs://)")
    ap.add_argument("--dataset", help="dataset name recorded on every row (required unless --crawl only)")
    ap.add_argument("--license", help="license of the dataset where a record states none (e.g. CC-BY-4.0)")
    ap.add_argument("--manifest", help="JSONL media manifest: one "
                    "{\"path\", \"license\"?, \"dataset\"?, \"lang\"?} per line")
    ap.add_argument("--force", action="store_true", help="re-read files already ingested (rows still MERGE)")
    ap.add_argument("--crawl", action="store_true", help="ingest what `lakehouse crawl` wrote into this lake (its "
                    "WARC files and media manifest; --dataset then names nothing and may be omitted)")
    args = ap.parse_args(argv)
    if not args.inputs and not args.manifest and not args.crawl:
        ap.error("give input paths, --manifest or --crawl")
    if not args.crawl and not args.dataset:
        ap.error("--dataset is required")
    cfg, spark, lake = open_lake(args, "lakehouse-ingest")
    if args.crawl:
        from jobs.crawl import crawl_inputs

        for e in crawl_inputs(lake, cfg):
            print(run_ingest(spark, lake, cfg, e["paths"], e["dataset"], e["license"], e["manifest"], args.force))
    if args.inputs or args.manifest:
        print(run_ingest(spark, lake, cfg, args.inputs, args.dataset, args.license, args.manifest, args.force))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
