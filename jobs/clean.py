"""Clean stage: bronze.documents -> silver.documents (+ silver.text_signals, ops.rejects).

    lakehouse clean [--dataset NAME ...]
    spark-submit jobs/clean.py --profile cluster

Incremental: only bronze rows without a row in silver.text_signals are read. Each is
extracted, normalized, language-identified, measured and quality-scored on executors, then
kept (silver.documents) or rejected (ops.rejects, reason = the check or rule that failed).
Signals of every document go to silver.text_signals, written last: a run killed before it
re-reads those rows next time and the MERGE keys absorb the overlap.
"""
from __future__ import annotations

import logging
import sys
import time

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, check_error_budget, pipeline_version, reject_rows, write_rejects
from pipelines.clean.refine import INPUT_COLUMNS, OUTCOME, context_from_config, refine_fn
from quality_models.models import lid_path
from quality_models.quality import model_path

log = logging.getLogger("lakehouse")
STAGE = "clean"
ERROR_REASONS = ("extractor_error",)    # the extractor failing, not the page: the error budget


def pending(lake: Lake, datasets: list[str] | None) -> DataFrame:
    """Bronze rows not cleaned yet (no row in silver.text_signals)."""
    bronze = lake.read("bronze.documents")
    if datasets:
        bronze = bronze.filter(F.col("dataset").isin(datasets))
    if lake.exists("silver.text_signals"):
        bronze = bronze.join(lake.read("silver.text_signals").select("doc_id"), "doc_id", "left_anti")
    return bronze.select(*INPUT_COLUMNS)


def check_config(cfg: dict) -> None:
    """The rules name signals the stage measures (before Spark starts)."""
    from pipelines.clean.rules import check_signals, rules_from_config
    from pipelines.clean.signals import measure

    check_signals(rules_from_config(cfg["clean"]["rules"]), set(measure("probe text.", "en")))


def run_clean(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    ccfg = cfg["clean"]
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("silver.text_signals")
        lid = str(lid_path(ccfg["lid"]["model"]))
        quality = str(model_path(ccfg["quality"]["model"]))
        for f in (lid, quality):
            spark.sparkContext.addFile(f)  # executors find them with SparkFiles.get(name)
        ctx = context_from_config(cfg, run.run_id, pipeline_version(), run.started_at, lid, quality)
        todo = pending(lake, datasets)
        rows_in = todo.select("doc_id").count()     # counted from the input, not from the outcome
        want = int(ccfg["partitions"] or 0)
        have = todo.rdd.getNumPartitions()
        if want or have < spark.sparkContext.defaultParallelism * 2:
            # few large bronze files would leave cores idle during the expensive per-document work
            todo = todo.repartition(want or spark.sparkContext.defaultParallelism * 4)
        out = todo.mapInArrow(refine_fn(ctx), from_arrow_schema(OUTCOME)).persist(StorageLevel.MEMORY_AND_DISK)
        timer = Timer(run)
        t0 = time.monotonic()
        try:
            with timer("refine_seconds"):
                by_reason = {r["reason"]: r["count"] for r in out.groupBy("reason").count().collect()}
            check_error_budget(STAGE, by_reason, rows_in, ccfg["error_budget"], ERROR_REASONS)
            n_out = sum(by_reason.values())
            with timer("merge_silver_seconds"):
                docs = out.filter(F.col("reason").isNull()).drop("signals", "reason", "detail")
                written, kept = lake.insert_counted("silver.documents", docs, by_reason.get(None, 0),
                                                    source_persisted=True)
            with timer("merge_rejects_seconds"):
                rejected = write_rejects(lake, reject_rows(out.filter(F.col("reason").isNotNull()), STAGE, run.run_id,
                                                           "reason", "detail"), n_out - by_reason.get(None, 0), STAGE)
            with timer("merge_signals_seconds"):
                decision = F.when(F.col("reason").isNull(), "kept").otherwise("rejected").alias("decision")
                sig = out.select("doc_id", "dataset", "lang", "lang_score", "quality_score", "quality_tier",
                                 "signals", decision, "reason", "run_id", "stage", "processed_at", "pipeline_version")
                run.expect("silver.text_signals", n_out, lake.insert_counted(
                    "silver.text_signals", sig, n_out, check=False, source_persisted=True)[1])
            if rows_in:
                tiers = {r["quality_tier"]: r["count"] for r in
                         out.filter(F.col("reason").isNull()).groupBy("quality_tier").count().collect()}
                for tier, n in tiers.items():
                    run.metric(f"tier.{tier}", n)
        finally:
            out.unpersist()
        for reason, n in by_reason.items():
            if reason is not None:
                run.metric(f"dropped.{reason}", n)
                run.metric(f"drop_rate.{reason}", n / n_out)
        secs = time.monotonic() - t0
        run.metric("docs_per_s", rows_in / secs if secs else 0.0)
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=written)
        summary = {"run_id": run.run_id, "rows_in": rows_in, "kept": kept, "rejected": rejected, "written": written,
                   "dropped": {k: v for k, v in sorted(by_reason.items(), key=lambda kv: -kv[1]) if k},
                   "seconds": round(secs, 2)}
    log.info("clean done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main("clean", __doc__, run_clean, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
