"""Executor speed-up: clean and dedup on a Spark standalone cluster of 1 worker x 1 core,
then 2 workers x 1 core, over the same bronze lake.

    python bench/executors_bench.py --docs 200000 [--layouts 1x1,2x1]

The corpus is incremental_bench's (generated distinct WARC pages); it is ingested once in
local mode into a base lake. Each layout starts its own master and workers on loopback
(infra/standalone.py), copies the base lake, and runs `nightly --only clean,dedup` with the
driver in this process and every task on the workers' executors (spark.executor.cores 1,
the same shuffle partitions for every layout). Per stage: the run's seconds
(ops.runs.duration_s), rows in and kept, and the speed-up against the first layout; the
lakes are compared (rows kept, clusters, rejects) so a layout that computed something else
fails the bench. Goal (issue 22): >= 1.8x from 1 to 2 executors for clean and dedup.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PeakMemory, nightly_config, save  # noqa: E402
from bench.incremental_bench import corpus  # noqa: E402

STAGES = ["clean", "dedup"]


def nightly(lake_root: Path, inputs: list[Path], only: list[str], master: str | None, executor_memory: str) -> dict:
    """One `nightly --only` in a fresh session (local[2] when master is None); per stage the
    run's seconds and rows, and what the lake holds afterwards."""
    from pyspark.sql import functions as F

    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.nightly import run_nightly

    on_cluster = {"spark": {"master": master, "conf": {
        "spark.executor.cores": "1", "spark.executor.memory": executor_memory, "spark.ui.enabled": "false"}}}
    cfg = nightly_config(lake_root, inputs, 2, **(on_cluster if master else {}))
    spark = get_spark(cfg, "bench-executors")
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    since = datetime.now(UTC)
    with PeakMemory() as mem:
        report = run_nightly(spark, lake, cfg, only=only)
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1   # less the driver
    if report["status"] != "succeeded":
        raise SystemExit(f"nightly failed: {json.dumps(report)}")
    runs = {r["stage"]: r for r in lake.read("ops.runs").where(F.col("started_at") >= since)
            .select("stage", "rows_in", "rows_kept", "rows_rejected", "duration_s").collect()}
    out = {"executors": executors, "peak_rss_gib": round(mem.peak / 2**30, 2),
           "stages": {s: {"seconds": round(r["duration_s"], 1), "rows_in": r["rows_in"], "rows_kept": r["rows_kept"],
                          "rows_rejected": r["rows_rejected"]} for s, r in runs.items()}}
    if "dedup" in only:
        docs = lake.read("silver.documents")
        out["lake"] = {"documents": docs.count(),
                       "kept": docs.where("dup_keep").count(),
                       "clusters": docs.where(F.col("dup_cluster_size") > 1).select("dup_cluster_id").distinct().count(),
                       "in_clusters": docs.where(F.col("dup_cluster_size") > 1).count(),
                       "rejects": lake.read("ops.rejects").groupBy("stage", "reason").count()
                       .orderBy("stage", "reason").collect()}
        out["lake"]["rejects"] = [f"{r['stage']}/{r['reason']}={r['count']}" for r in out["lake"]["rejects"]]
    spark.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=200_000)
    ap.add_argument("--layouts", default="1x1,2x1", help="WORKERSxCORES, comma-separated; the first is the base")
    ap.add_argument("--executor-memory", default="4g")
    ap.add_argument("--worker-memory", default="5g", help="what each worker offers (>= the executor's memory)")
    ap.add_argument("--work", default="build/bench", help="where the corpus and the lakes go")
    args = ap.parse_args()
    from infra.standalone import standalone

    work = Path(args.work).resolve()
    warcs = corpus(work, args.docs, 0, 0)
    base = work / f"lake-executors-base-{args.docs}"
    if not (base / "_COMPLETE").exists():
        shutil.rmtree(base, ignore_errors=True)
        t = time.monotonic()
        nightly(base, [warcs], ["ingest"], None, args.executor_memory)
        (base / "_COMPLETE").write_text("ok")
        print(f"ingested the base lake in {time.monotonic() - t:.1f}s", flush=True)
    layouts, runs = [tuple(int(x) for x in s.split("x")) for s in args.layouts.split(",")], {}
    for workers, cores in layouts:
        name = f"{workers}x{cores}"
        lake = work / f"lake-executors-{args.docs}-{name}"
        shutil.rmtree(lake, ignore_errors=True)
        shutil.copytree(base, lake)
        with standalone(work / f"standalone-{name}", workers=workers, cores=cores,
                        memory=args.worker_memory) as (url, _):
            runs[name] = nightly(lake, [warcs], STAGES, url, args.executor_memory)
        if runs[name]["executors"] != workers * cores:   # one core each: a late or lost executor is another layout
            raise SystemExit(f"layout {name} ran on {runs[name]['executors']} executors, not {workers * cores}")
        print(name, json.dumps(runs[name]), flush=True)
    first = next(iter(runs))
    for name, r in runs.items():
        if r.get("lake") != runs[first].get("lake"):
            raise SystemExit(f"layout {name} wrote another lake than {first}: {r.get('lake')} vs {runs[first].get('lake')}")
        for s in STAGES:
            r["stages"][s]["speedup"] = round(runs[first]["stages"][s]["seconds"] / r["stages"][s]["seconds"], 2)
        r["speedup_clean_dedup"] = round(sum(runs[first]["stages"][s]["seconds"] for s in STAGES)
                                         / sum(r["stages"][s]["seconds"] for s in STAGES), 2)
    result = {"docs": args.docs, "layouts": runs}
    print(json.dumps(result, indent=2))
    print(f"saved {save(f'executors-{args.docs}', result)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
