"""Clean stage: bronze.documents -> silver.documents (+ silver.text_signals, ops.rejects).

    lakehouse clean [--dataset NAME ...] [--reapply]
    spark-submit jobs/clean.py --profile cluster

--reapply decides every cleaned document again from silver.text_signals after a rule,
threshold or language change (pipelines/clean/reapply.py): no model runs; newly passing
documents get their text back from bronze into silver.documents (dedup, pii and tokenize
then take them as new), newly failing ones are rejected and leave silver.documents,
silver.minhash, silver.redacted_documents and gold.tokens. The change is a run of its own.

Incremental: only bronze rows without a row in silver.text_signals are read, looked for
among the rows bronze gained since the last clean run (its change feed:
jobs/common/increment.py). Each is
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
from jobs.common.increment import source_rows
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, check_error_budget, pipeline_version, reject_rows, write_rejects
from pipelines.clean.reapply import DECISION, NOT_RULES, STORED, rebuild_fn, redecide_fn
from pipelines.clean.refine import INPUT_COLUMNS, OUTCOME, context_from_config, refine_fn
from quality_models.models import lid_path
from quality_models.quality import model_path

log = logging.getLogger("lakehouse")
STAGE = "clean"
ERROR_REASONS = ("extractor_error",)    # the extractor failing, not the page: the error budget


def pending(lake: Lake, run: StageRun, datasets: list[str] | None) -> DataFrame:
    """Bronze rows not cleaned yet (no row in silver.text_signals), looked for among those
    added since the last clean run (jobs/common/increment.py)."""
    bronze = source_rows(lake, run, "bronze.documents", ("silver.text_signals",))
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
        todo = pending(lake, run, datasets)
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


# where a document that clean rejects on re-decision must leave (table, extra condition)
DOWNSTREAM = (("silver.documents", None), ("silver.minhash", None), ("silver.redacted_documents", None),
              ("gold.tokens", "t.modality = 'text'"))


def run_reapply(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    """Decide every cleaned document again from its stored signals (module docstring)."""
    with StageRun(lake, STAGE, cfg, {"datasets": datasets, "reapply": True}) as run:
        run.inputs("silver.text_signals")
        ctx = context_from_config(cfg, run.run_id, pipeline_version(), run.started_at, lid_model="", quality_model="")
        required = frozenset(r.signal for r in ctx.rules)
        if not lake.exists("silver.text_signals"):
            run.count(rows_in=0, kept=0, rejected=0)
            return {"run_id": run.run_id, "rows_in": 0}
        ts = lake.read("silver.text_signals")
        if datasets:
            ts = ts.where(F.col("dataset").isin(datasets))
        missing = F.array_except(F.array(*[F.lit(k) for k in sorted(required)]), F.map_keys("signals"))
        ts = (ts.where(F.col("reason").isNull() | ~F.col("reason").isin(*NOT_RULES))
              .select("doc_id", *STORED, F.col("reason").alias("old"), (F.size(missing) == 0).alias("complete"))
              .persist(StorageLevel.MEMORY_AND_DISK))
        timer = Timer(run)
        try:
            rows_in = ts.count()
            light = (ts.where("complete").select("doc_id", "lang", "lang_score", "signals")
                     .mapInArrow(redecide_fn(ctx), from_arrow_schema(DECISION))
                     .persist(StorageLevel.MEMORY_AND_DISK))            # read twice: by `need` and `final`
            # the text is needed again where the signals are an older version's, or where a reject now passes
            need = ts.where(~F.col("complete")).select("doc_id").unionByName(
                light.join(ts.select("doc_id", "old"), "doc_id").where("old IS NOT NULL AND reason IS NULL")
                .select("doc_id"))
            bronze = lake.read("bronze.documents").select(*INPUT_COLUMNS).join(need, "doc_id", "left_semi")
            rebuilt = (bronze.join(ts.select("doc_id", *STORED), "doc_id")
                       .mapInArrow(rebuild_fn(ctx, required), from_arrow_schema(OUTCOME))
                       .persist(StorageLevel.MEMORY_AND_DISK))
            rb = rebuilt.select("doc_id", F.lit(True).alias("rb"), F.col("reason").alias("rb_reason"),
                                F.col("detail").alias("rb_detail"), F.col("signals").alias("rb_signals"))
            was_rebuilt = F.col("rb").isNotNull()
            final = (ts.select("doc_id", "old", "signals", "complete").join(light, "doc_id", "left")
                     .join(rb, "doc_id", "left")
                     .select("doc_id", "old",
                             F.when(was_rebuilt, F.col("rb_reason")).otherwise(F.col("reason")).alias("new"),
                             F.when(was_rebuilt, F.col("rb_detail")).otherwise(F.col("detail")).alias("detail"),
                             F.when(~F.col("complete"), F.col("rb_signals"))
                             .otherwise(F.col("signals")).alias("signals"),
                             (~F.col("complete")).alias("remeasured"))
                     .localCheckpoint())      # fixed: the writes below change the tables it is computed from
            with timer("redecide_seconds"):
                kind = (F.when(F.col("old").isNotNull() & F.col("new").isNull(), "admitted")
                        .when(F.col("old").isNull() & F.col("new").isNotNull(), "newly_rejected")
                        .when(F.col("old") != F.col("new"), "reason_changed").otherwise("unchanged"))
                final = final.withColumn("change", kind)
                counts = {(r["change"], r["remeasured"]): r["count"]
                          for r in final.groupBy("change", "remeasured").count().collect()}
            n = {k: sum(v for (c, _), v in counts.items() if c == k) for k in
                 ("admitted", "newly_rejected", "reason_changed", "unchanged")}
            changed = final.where("change <> 'unchanged'")
            lineage = lake.read("bronze.documents").select("doc_id", "source_uri", "source_record", "dataset")
            with timer("write_seconds"):
                admitted = rebuilt.join(changed.where("change = 'admitted'").select("doc_id"), "doc_id", "left_semi")
                _, kept_now = lake.insert_counted("silver.documents", admitted.drop("signals", "reason", "detail"),
                                                  n["admitted"])
                gone = (changed.where("change IN ('admitted', 'reason_changed')")
                        .select("doc_id", F.col("old").alias("reason")))
                lake.delete_matching("ops.rejects", gone, on=("doc_id", "reason"), where=f"t.stage = '{STAGE}'")
                new_rejects = changed.where("change IN ('newly_rejected', 'reason_changed')").join(lineage, "doc_id")
                rejected_now = write_rejects(lake, reject_rows(new_rejects, STAGE, run.run_id, "new", "detail"),
                                             n["newly_rejected"] + n["reason_changed"], STAGE)
                dropped = changed.where("change = 'newly_rejected'").select("doc_id")
                for table, where in DOWNSTREAM:
                    run.metric(f"deleted.{table}", lake.delete_matching(table, dropped, on=("doc_id",), where=where))
                run.expect("silver.documents without the newly rejected", 0,
                           lake.read("silver.documents").join(dropped, "doc_id", "left_semi").count())
                run.expect("clean rejects of the admitted", 0, lake.read("ops.rejects").where(F.col("stage") == STAGE)
                           .join(changed.where("change = 'admitted'"), "doc_id", "left_semi").count())
                decision = F.when(F.col("new").isNull(), "kept").otherwise("rejected").alias("decision")
                upd = final.where("change <> 'unchanged' OR remeasured").select(
                    "doc_id", decision, F.col("new").alias("reason"), "signals")
                lake.merge_update("silver.text_signals", upd, ["decision", "reason", "signals"])
            # every re-decided document is now in silver.documents or has a clean reject, counted there
            ids = final.select("doc_id")       # not ts: re-read, it would see the new decisions
            kept_after = ids.join(lake.read("silver.documents").select("doc_id"), "doc_id", "left_semi").count()
            rejected_after = ids.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"),
                                      "doc_id", "left_semi").count() if lake.exists("ops.rejects") else 0
        finally:
            for df in (ts, light, rebuilt, final):
                df.unpersist()
        for k, v in n.items():
            run.metric(f"reapply.{k}", v)
        run.metric("reapply.remeasured", sum(v for (_, r), v in counts.items() if r))
        run.expect("newly admitted documents in silver.documents", n["admitted"], kept_now)
        run.expect("new clean rejects", n["newly_rejected"] + n["reason_changed"], rejected_now)
        run.count(rows_in=rows_in, kept=kept_after, rejected=rejected_after, written=kept_now)
        summary = {"run_id": run.run_id, "rows_in": rows_in, **n, "kept": kept_after, "rejected": rejected_after,
                   "remeasured": int(run.metrics["reapply.remeasured"])}
    log.info("clean --reapply done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_clean, argv, reapply_fn=run_reapply,
                              reapply_help="decide cleaned documents again from their stored signals "
                                           "(after a rule or threshold change)")

if __name__ == "__main__":
    sys.exit(run_main(main))
