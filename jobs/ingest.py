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
from functools import reduce

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from jobs.common.config import ConfigError
from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, check_error_budget, pipeline_version, reject_rows, write_rejects
from pipelines.ingest import FILES_SCHEMA, context_from_config, list_inputs, parse_files, read_manifest
from pipelines.ingest.records import MEDIA_OUTCOME
from schemas.lineage import lineage_checks, lineage_failures

log = logging.getLogger("lakehouse")
STAGE = "ingest"


ARCHIVE_ERRORS = ("truncated_archive", "corrupt_archive")
ERROR_REASONS = ("probe_error",)        # a library failing, not the data: the error budget
TABLES = ("bronze.documents", "bronze.media")


def outcome_tally(docs_out: DataFrame, media_out: DataFrame) -> tuple[dict, dict]:
    """One aggregation per outcome frame (its first action: it fills the frame's cache): rows
    per (file, table, reason), reason None for a kept row, and per table the lineage checks
    over its kept rows. Sized by files and reasons, never by rows: every later count of the
    run (rows in, rejects by reason, per file, rows to insert) comes from it, not from a pass."""
    table = F.when(F.col("media_type").isNull(), F.lit(TABLES[0])).otherwise(F.lit(TABLES[1]))
    counts: dict = {}
    lineage: dict = {t: {} for t in TABLES}
    for df, tcol in ((docs_out, table), (media_out, F.lit(TABLES[1]))):
        for r in (df.groupBy("source_uri", tcol.alias("table"), "reason")
                  .agg(F.count("*").alias("n"), *lineage_checks(df, "ingest outcome")).collect()):
            key = (r["source_uri"], r["table"], r["reason"])
            counts[key] = counts.get(key, 0) + r["n"]
            if r["reason"] is None:       # rejects carry no license: only kept rows are checked
                for k, v in r.asDict().items():
                    if k.startswith("lineage:"):
                        lineage[r["table"]][k] = lineage[r["table"]].get(k, 0) + v
    return counts, lineage


def split_outcomes(good: DataFrame, damaged_uris: list[str]) -> tuple[DataFrame, DataFrame | None, dict]:
    """(kept rows, duplicate_record reject rows or None, {file URI: rows of it not kept}) of
    one table's good outcome rows. A doc_id seen more than once in one run keeps one copy: the
    one from a file without archive errors, then the first by file URI and record; the others
    become `duplicate_record` rejects naming the kept record (an insert-only MERGE would add
    them all). Duplicated ids are found by aggregating doc_ids alone; only their rows are
    ranked, and nothing data-sized is collected to the driver (the per-file counts are
    bounded by the files listed)."""
    dup_ids = good.groupBy("doc_id").count().where("count > 1").select("doc_id")
    if dup_ids.isEmpty():
        return good, None, {}
    ranked = (good.join(dup_ids, "doc_id", "left_semi").select("doc_id", "source_uri", "source_record")
              .withColumn("damaged", F.col("source_uri").isin(*damaged_uris) if damaged_uris else F.lit(False))
              .withColumn("_n", F.row_number().over(Window.partitionBy("doc_id").orderBy(
                  "damaged", "source_uri", "source_record"))))
    kept_ref = ranked.where("_n = 1").select("doc_id", F.concat_ws(" ", "source_uri", "source_record").alias("ref"))
    losers = ranked.where("_n > 1").select("doc_id", "source_uri", "source_record").join(kept_ref, "doc_id")
    losers = losers.localCheckpoint()      # ranked once: the counts, the anti-join and the rejects read it
    by_file = {r["source_uri"]: r["count"] for r in losers.groupBy("source_uri").count().collect()}
    keys = ["doc_id", "source_uri", "source_record"]
    kept = good.join(losers.select(*keys), keys, "left_anti")
    extra = (good.join(losers, keys).withColumn("reason", F.lit("duplicate_record"))
             .withColumn("detail", F.concat(F.lit("same document as the kept record "), "ref")).drop("ref"))
    return kept, extra, by_file


def warc_media(docs_out: DataFrame) -> DataFrame:
    """The bronze.media rows among the WARC outcomes (image responses), in the media outcome's columns."""
    cols = [c for c in MEDIA_OUTCOME.names if c in docs_out.columns]
    return docs_out.where(F.col("media_type").isNotNull()).select(*cols)


def sort_outcomes(docs_out: DataFrame, media_out: DataFrame, counts: dict, run_id: str):
    """(kept rows per table, rows each holds, {file URI: in-run duplicates}, ops.rejects rows)
    from the outcome frames and their tally (outcome_tally)."""
    damaged = sorted({u for (u, _, reason) in counts if reason in ARCHIVE_ERRORS})
    good = {TABLES[0]: docs_out.where(F.col("media_type").isNull()),
            TABLES[1]: media_out.unionByName(warc_media(docs_out), allowMissingColumns=True)}
    cols = ["doc_id", "source_uri", "source_record", "dataset", "reason", "detail"]
    bad = [df.where(F.col("reason").isNotNull()).select(*cols) for df in (docs_out, media_out)]
    kept_rows, not_kept = {}, {}
    expected = {t: sum(n for (_, tt, reason), n in counts.items() if tt == t and reason is None) for t in TABLES}
    for t in TABLES:
        if not expected[t]:
            continue
        kept_rows[t], extra, by_file = split_outcomes(
            good[t].where(F.col("reason").isNull()).drop("reason", "detail"), damaged)
        if extra is not None:
            bad.append(extra.select(*cols))
        expected[t] -= sum(by_file.values())
        for uri, n in by_file.items():
            not_kept[uri] = not_kept.get(uri, 0) + n
    return kept_rows, expected, not_kept, reject_rows(reduce(DataFrame.unionByName, bad), STAGE, run_id,
                                                      "reason", "detail")


def file_rows(spark: SparkSession, files: list[dict], counts: dict, not_kept: dict, run_id: str) -> DataFrame:
    """ops.ingest_files rows: per file, the records kept and rejected by this run (their sums
    are the run's), from the outcome tally and the in-run duplicates (`not_kept`)."""
    per_file: dict = {}
    for (uri, _, reason), n in counts.items():
        k, r = per_file.get(uri, (0, 0))
        per_file[uri] = (k, r + n) if reason else (k + n, r)
    tallied = [(uri, k - not_kept.get(uri, 0), r + not_kept.get(uri, 0)) for uri, (k, r) in per_file.items()]
    per_file_df = spark.createDataFrame(tallied, "file_uri string, kept long, rej long")
    kept_n, rej_n = F.coalesce("kept", F.lit(0)), F.coalesce("rej", F.lit(0))
    return (spark.createDataFrame(files, FILES_SCHEMA).join(per_file_df, "file_uri", "left")
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
        # parsed once, by the tally's pass; a local checkpoint, not a cache: no columnar encoding of
        # the text (the cache cost 2-3 s more per 100k records to fill, 1.5 s more to read back)
        docs_out = parse_files(spark, text_files, ctx).localCheckpoint(eager=False)
        media_out = parse_files(spark, media_files, ctx, media=True).localCheckpoint(eager=False)
        timer = Timer(run)
        with timer("parse_seconds"):
            counts, lineage = outcome_tally(docs_out, media_out)
            rows_in = sum(counts.values())
        with timer("split_seconds"):
            kept_rows, expected, not_kept, rejects = sort_outcomes(docs_out, media_out, counts, run.run_id)
            by_reason: dict = {}
            for (_, _, reason), n in counts.items():
                if reason:
                    by_reason[reason] = by_reason.get(reason, 0) + n
            if not_kept:
                by_reason["duplicate_record"] = by_reason.get("duplicate_record", 0) + sum(not_kept.values())
        check_error_budget(STAGE, by_reason, rows_in, cfg["ingest"]["error_budget"], ERROR_REASONS)
        with timer("merge_bronze_seconds"):
            written = kept = 0
            for t in TABLES:
                if t in kept_rows:
                    lineage_failures(lineage[t], t)
                    ins, held = lake.insert_counted(t, kept_rows[t], expected[t], check=False,
                                                    source_persisted=True)
                    written, kept = written + ins, kept + held
        with timer("merge_rejects_seconds"):
            rejected = write_rejects(lake, rejects, sum(by_reason.values()), STAGE)
        with timer("merge_files_seconds"):
            if todo:
                lake.merge_insert("ops.ingest_files", file_rows(spark, todo, counts, not_kept, run.run_id),
                                  check=False)
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
