"""Dedup stage: exact + near-duplicate (MinHash LSH) clusters over silver.documents.

    lakehouse dedup [--dataset NAME ...]

Incremental: documents of silver.documents without a silver.minhash row (looked for among
those changed since the last dedup run: jobs/common/increment.py) are signed and
matched against each other and against the index of documents kept by earlier runs.
Each gets dup_cluster_id / dup_cluster_size / dup_keep in silver.documents; the dropped
ones go to ops.rejects (exact_duplicate, url_duplicate, near_duplicate) with the kept
doc_id. silver.minhash is written last (the processed marker). The run's metrics hold the
report: duplicate rate, cluster size histogram, largest clusters.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.increment import source_rows
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version, reject_rows, write_rejects
from pipelines.dedup.minhash import SCHEME
from pipelines.dedup.stage import assign, build_pool, cluster_members, hasher_from_config, residual_rate, signatures

log = logging.getLogger("lakehouse")
STAGE = "dedup"


def run_dedup(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    d = cfg["dedup"]
    hasher = hasher_from_config(cfg)
    params = json.dumps({"num_perm": hasher.num_perm, "seed": hasher.seed, "ngram": hasher.ngram,
                         "cjk_ngram": hasher.cjk_ngram, "bands": hasher.bands, "rows": hasher.rows,
                         "scheme": SCHEME}, sort_keys=True)
    threshold = d["verify_threshold"]
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("silver.minhash")
        docs = source_rows(lake, run, "silver.documents", ("silver.minhash",))
        if datasets:
            docs = docs.filter(F.col("dataset").isin(datasets))
        index = None
        if lake.exists("silver.minhash"):
            mh = lake.read("silver.minhash")
            stale = mh.where(F.col("params") != params).limit(1).count()
            if stale:
                raise ValueError("silver.minhash holds signatures made with other dedup parameters than "
                                 f"{params}: keep the parameters or rebuild the index")
            docs = docs.join(mh.select("doc_id"), "doc_id", "left_anti")
            index = mh.where("kept")
        rows_in = docs.select("doc_id").count()      # counted from the input, not from the signatures
        timer = Timer(run)
        t0 = time.monotonic()
        # localCheckpoint, not persist: Delta's MERGE re-plans its source and missed the cache,
        # signing every document again for each write. Spark's ContextCleaner frees the blocks.
        new = signatures(docs, hasher, keep=("quality_tier", "fetch_time", "dataset", "source_uri", "source_record"))
        with timer("signature_seconds"):
            new = new.localCheckpoint()
            n_signed = new.count()
        with timer("cluster_seconds"):
            pool = build_pool(new, index, lake.read("silver.documents"), broadcast=n_signed <= d["broadcast_rows"])
            members = cluster_members(mh, pool) if index is not None else None
            clusters = assign(pool, threshold, d["bucket_window"], members, tuple(d["keep_by"])).localCheckpoint()
            rate_after = residual_rate(clusters)
            out = clusters.where(~F.col("is_old"))
            by_reason = {r["reason"]: r["count"] for r in out.groupBy("reason").count().collect()}
            grown = clusters.where("grew")            # earlier representatives whose cluster grew
            n_grown = grown.count()
        dropped_n = n_signed - by_reason.get(None, 0)
        marked = rejected = 0
        with timer("write_seconds"):
            if n_signed:
                marks = out.unionByName(grown).select(
                    "doc_id", "dup_cluster_id", "dup_cluster_size", "dup_keep", F.lit(run.run_id).alias("run_id"),
                    F.lit(STAGE).alias("stage"), F.current_timestamp().alias("processed_at"),
                    F.lit(pipeline_version()).alias("pipeline_version"))
                marked = lake.merge_update("silver.documents", marks, [c for c in marks.columns if c != "doc_id"],
                                           broadcast=n_signed + n_grown <= d["broadcast_rows"]) - n_grown
            dropped = out.where("NOT dup_keep").join(new.select("doc_id", "dataset", "source_uri", "source_record"),
                                                     "doc_id")
            detail = F.concat(F.lit("duplicate of "), "ref_doc_id", F.lit(" (cluster of "), "dup_cluster_size",
                              F.lit(")"))
            rejected = write_rejects(lake, reject_rows(dropped, STAGE, run.run_id, "reason", detail, "ref_doc_id"),
                                     dropped_n, STAGE)
            index_rows = new.join(out.select("doc_id", F.col("dup_keep").alias("kept"),
                                             F.col("dup_cluster_id").alias("cluster_id"),
                                             F.col("dup_cluster_size").alias("cluster_size")), "doc_id").select(
                "doc_id", "lang", "norm_hash", "url_norm", "n_shingles", "signature", "bands", "quality_tier",
                "fetch_time", "kept", "cluster_id", "cluster_size", F.lit(params).alias("params"),
                F.lit(run.run_id).alias("run_id"), F.current_timestamp().alias("processed_at"))
            run.expect("silver.minhash", n_signed, lake.insert_counted(
                "silver.minhash", index_rows, n_signed, check=False, source_persisted=True)[1])
        kept = marked - dropped_n        # every signed document is marked; the dropped ones are also rejects
        report = cluster_report(out, n_signed, dropped_n, rate_after)
        for k, v in report["metrics"].items():
            run.metric(k, v)
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=marked)
        summary = {"run_id": run.run_id, "rows_in": rows_in, "kept": kept, "rejected": rejected,
                   "dropped": {k: v for k, v in by_reason.items() if k}, "seconds": round(time.monotonic() - t0, 2),
                   **report["summary"]}
    log.info("dedup done: %s", summary)
    return summary


def cluster_report(out, rows_in: int, rejected: int, rate_after: float) -> dict:
    """Duplicate rate before and after (`residual_rate`), cluster size histogram and the
    largest clusters of this run's documents."""
    per_cluster = out.groupBy("dup_cluster_id").count().localCheckpoint()
    hist = {int(r["n"]): int(r["c"]) for r in per_cluster.groupBy(F.col("count").alias("n"))
            .agg(F.count("*").alias("c")).collect()}
    top = per_cluster.orderBy(F.desc("count"), "dup_cluster_id").limit(5).collect()
    rate = rejected / rows_in if rows_in else 0.0
    metrics = {"dup_rate_before": rate, "dup_rate_after": rate_after, "clusters": float(sum(hist.values()))}
    for n, c in hist.items():
        metrics[f"cluster_size.{n}"] = float(c)
    return {"metrics": metrics,
            "summary": {"dup_rate_before": round(rate, 4), "dup_rate_after": round(rate_after, 4),
                        "cluster_sizes": dict(sorted(hist.items())),
                        "top_clusters": [(r["dup_cluster_id"], r["count"]) for r in top]}}


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main("dedup", __doc__, run_dedup, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
