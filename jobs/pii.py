"""PII and license stage: silver.documents -> silver.redacted_documents (what tokenize reads).

    lakehouse pii [--dataset NAME ...] [--reapply]

Takes the documents dedup kept that this stage has not seen (no silver.redacted_documents
row, no pii reject). Documents whose license is off `license.allow` (unless their
dataset's policy keeps it) or whose X-Robots-Tag opts out are rejected without being
analysed. The rest go through presidio (one offline AnalyzerEngine per executor process,
our Chinese/secret recognizers, pipelines/pii/), and `pii.entities` decides per type:
redact with a `<|pii_*|>` placeholder, keep (audit only) or drop the document; so does
the density limit (`pii.density`). Found spans go to silver.pii_audit (offsets, scores,
recognizer, salted hashes; never values), rejects to ops.rejects, kept documents to
silver.redacted_documents, written last.

--reapply first decides the license gate again for every document the stage has decided,
under the current `license` policy (a changed allow-list or per-dataset override): license
rejects it now lets through are lifted (and analysed by the run that follows), documents it
now refuses are rejected and leave silver.redacted_documents and gold.tokens, and a changed
license_status is updated. That is a run of its own; the usual run follows.
"""
from __future__ import annotations

import logging
import sys
import time

from pyspark import StorageLevel
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.increment import source_rows
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version, reject_rows, write_rejects
from pipelines.pii.license import license_policy
from pipelines.pii.redact import policy_from_config
from pipelines.pii.salt import audit_salt
from pipelines.pii.stage import audit_rows, outcome, policy_hash
from schemas.tables import SILVER_REDACTED

log = logging.getLogger("lakehouse")
STAGE = "pii"
OUT = "silver.redacted_documents"


def pending(lake: Lake, run: StageRun, cfg: dict, datasets: list[str] | None):
    """Documents dedup kept that have neither a silver.redacted_documents row nor a pii reject,
    looked for among those changed since the last pii run (jobs/common/increment.py)."""
    docs = source_rows(lake, run, "silver.documents", (OUT, "ops.rejects"),
                       config_keys=("pii.require_dedup",))
    if cfg["pii"]["require_dedup"]:
        docs = docs.where(F.col("dup_keep"))
    if datasets:
        docs = docs.where(F.col("dataset").isin(datasets))
    if lake.exists(OUT):
        docs = docs.join(lake.read(OUT).select("doc_id"), "doc_id", "left_anti")
    if lake.exists("ops.rejects"):
        docs = docs.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                         "left_anti")
    return docs


def robots_tags(lake: Lake):
    """doc_id -> the X-Robots-Tag header and <meta name=robots> tokens ingest kept
    (bronze.documents.http_headers `x-robots-tag`, `meta-robots`), comma-joined."""
    if not lake.exists("bronze.documents"):
        return None
    h = F.col("http_headers")
    return (lake.read("bronze.documents")
            .select("doc_id", F.concat_ws(", ", h["x-robots-tag"], h["meta-robots"]).alias("robots_tag"))
            .where("robots_tag <> ''"))


def check_config(cfg: dict) -> None:
    """Entity types and placeholders the stage knows (before Spark starts)."""
    policy_from_config(cfg)


def run_pii(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    p = cfg["pii"]
    policy, lic = policy_from_config(cfg), license_policy(cfg)
    languages, ner = tuple(p["languages"]), p["spacy_model"]
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs(OUT)
        salt, salt_from = audit_salt(lake, cfg)
        log.info("pii: audit hashes salted from %s", salt_from)
        phash = policy_hash(policy, lic, languages, ner)
        docs = pending(lake, run, cfg, datasets).drop("title")
        rows_in = docs.select("doc_id").count()      # counted from the input, not from the outcome
        if p["partitions"]:
            docs = docs.repartition(int(p["partitions"]))
        timer = Timer(run)
        t0 = time.monotonic()
        out = outcome(docs, robots_tags(lake), policy, lic, languages, ner, salt).persist(StorageLevel.MEMORY_AND_DISK)
        try:
            with timer("detect_seconds"):
                by_reason = {r["reason"]: r["count"] for r in out.groupBy("reason").count().collect()}
            n_kept = by_reason.get(None, 0)
            entity_counts = {r["entity_type"]: r["n"] for r in audit_rows(out).groupBy("entity_type")
                             .agg(F.sum("count").alias("n")).collect()}
            with timer("write_seconds"):
                audit = audit_rows(out).select("*", F.lit(run.run_id).alias("run_id"),
                                               F.current_timestamp().alias("processed_at"))
                lake.merge_insert("silver.pii_audit", audit, source_persisted=True)
                rej = reject_rows(out.where("reason IS NOT NULL"), STAGE, run.run_id, "reason", "detail")
                rejected = write_rejects(lake, rej, sum(by_reason.values()) - n_kept, STAGE)
                stamped = {"n_chars": F.length("text").cast("long"), "run_id": F.lit(run.run_id),
                           "stage": F.lit(STAGE), "processed_at": F.current_timestamp(),
                           "pipeline_version": F.lit(pipeline_version()), "pii_policy": F.lit(phash)}
                rows = out.where("reason IS NULL").select(
                    *[stamped.get(f.name, F.col(f.name)).alias(f.name) for f in SILVER_REDACTED.fields])
                written, kept = lake.insert_counted(OUT, rows, n_kept, source_persisted=True)
        finally:
            out.unpersist()
        seconds = time.monotonic() - t0
        for k, v in entity_counts.items():
            run.metric(f"entities.{k}", v)
        for k, v in by_reason.items():
            if k:
                run.metric(f"rejected.{k}", v)
        run.metric("docs_per_s", rows_in / seconds if seconds else 0.0)
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=written)
        summary = {"run_id": run.run_id, "rows_in": rows_in, "kept": kept, "rejected": rejected,
                   "written": written, "dropped": {k: v for k, v in by_reason.items() if k},
                   "entities": dict(sorted(entity_counts.items())), "policy": phash, "seconds": round(seconds, 2)}
    log.info("pii done: %s", summary)
    return summary


LICENSE_REASONS = ("license_unknown", "license_not_allowed", "robots_optout")


def reapply_license(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    """The license gate decided again for the documents the stage has decided (module docstring)."""
    from pipelines.pii.license import decide_license

    lic = license_policy(cfg)
    with StageRun(lake, STAGE, cfg, {"datasets": datasets, "reapply": True}) as run:
        run.inputs(OUT)
        docs = lake.read("silver.documents")
        if datasets:
            docs = docs.where(F.col("dataset").isin(datasets))
        tags = robots_tags(lake)
        docs = docs.select("doc_id", "license", "dataset", "source_uri", "source_record")
        if tags is not None:
            docs = docs.join(tags, "doc_id", "left")
        else:
            docs = docs.withColumn("robots_tag", F.lit(None).cast("string"))
        status, reason, detail = decide_license(F.col("robots_tag"), lic)
        old = (lake.read("ops.rejects").where((F.col("stage") == STAGE) & F.col("reason").isin(*LICENSE_REASONS))
               .select("doc_id", F.col("reason").alias("old")) if lake.exists("ops.rejects") else None)
        red = lake.read(OUT).select("doc_id", F.col("license_status").alias("old_status")) if lake.exists(OUT) else None
        d = docs.select("*", status.alias("status"), reason.alias("new"), detail.alias("detail"))
        d = d.join(old, "doc_id", "left") if old is not None else d.withColumn("old", F.lit(None).cast("string"))
        d = (d.join(red, "doc_id", "left") if red is not None
             else d.withColumn("old_status", F.lit(None).cast("string")))
        change = (F.when(F.col("old").isNotNull() & F.col("new").isNull(), "lifted")
                  .when(F.col("old").isNotNull() & (F.col("old") != F.col("new")), "reason_changed")
                  .when(F.col("old_status").isNotNull() & F.col("new").isNotNull(), "revoked")
                  .when(F.col("old_status").isNotNull() & (F.col("old_status") != F.col("status")), "relabelled")
                  .otherwise("unchanged"))
        # checkpointed: the writes below change the tables it is computed from
        d = (d.where(F.col("old").isNotNull() | F.col("old_status").isNotNull()).withColumn("change", change)
             .localCheckpoint())
        try:
            rows_in = d.count()
            n = {k: 0 for k in ("lifted", "reason_changed", "revoked", "relabelled", "unchanged")}
            n.update({r["change"]: r["count"] for r in d.groupBy("change").count().collect()})
            changed = d.where("change <> 'unchanged'")
            lake.delete_matching("ops.rejects", changed.where("change IN ('lifted', 'reason_changed')")
                                 .select("doc_id", F.col("old").alias("reason")), on=("doc_id", "reason"),
                                 where=f"t.stage = '{STAGE}'")
            rej = reject_rows(changed.where("change IN ('reason_changed', 'revoked')"), STAGE, run.run_id, "new",
                              "detail")
            rejected_now = write_rejects(lake, rej, n["reason_changed"] + n["revoked"], STAGE)
            revoked = changed.where("change = 'revoked'").select("doc_id")
            run.metric("deleted.silver.redacted_documents", lake.delete_matching(OUT, revoked, on=("doc_id",)))
            run.metric("deleted.gold.tokens", lake.delete_matching("gold.tokens", revoked, on=("doc_id",),
                                                                   where="t.modality = 'text'"))
            if n["relabelled"]:
                lake.merge_update(OUT, changed.where("change = 'relabelled'")
                                  .select("doc_id", F.col("status").alias("license_status")), ["license_status"])
            run.expect("license rejects of the lifted", 0, lake.read("ops.rejects").where(F.col("stage") == STAGE)
                       .join(changed.where("change = 'lifted'"), "doc_id", "left_semi").count())
            if lake.exists(OUT):
                run.expect(f"{OUT} without the revoked", 0, lake.read(OUT).join(revoked, "doc_id", "left_semi").count())
            ids = d.select("doc_id")
            kept = ids.join(lake.read(OUT).select("doc_id"), "doc_id", "left_semi").count() if lake.exists(OUT) else 0
            rejected = ids.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                                "left_semi").count()
        finally:
            d.unpersist()
        for k, v in n.items():
            run.metric(f"reapply.{k}", v)
        run.expect("new license rejects", n["reason_changed"] + n["revoked"], rejected_now)
        # the lifted are neither kept nor rejected now: the run that follows analyses them
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, skipped=n["lifted"])
        summary = {"run_id": run.run_id, "rows_in": rows_in, **n, "kept": kept, "rejected": rejected}
    log.info("pii --reapply done: %s", summary)
    return summary


def reapply_then_run(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    """`pii --reapply`: the license gate again, then the usual run (which analyses the lifted)."""
    return {"reapply": reapply_license(spark, lake, cfg, datasets), "run": run_pii(spark, lake, cfg, datasets)}


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_pii, argv, reapply_fn=reapply_then_run,
                              reapply_help="decide the license gate again under the current license policy, "
                                           "then run as usual")

if __name__ == "__main__":
    sys.exit(run_main(main))
