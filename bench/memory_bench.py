"""Peak memory of ingest, clean and dedup against the lake's size, with memory settings fixed (issue 22, part 2).

    python bench/memory_bench.py [--docs 100000,1000000,3000000] [--cores 2]

For each size: incremental_bench's generated corpus (distinct WARC pages), then `nightly
--only ingest`, `--only clean` and `--only dedup` on one lake, each stage in a process of its
own (one stage's JVM heap must not carry into the next one's figure), its process tree
sampled every 0.25 s by role: the driver (the Python process), the JVM (driver and, in local
mode, the executors), the Python workers (all together, and the largest one). The settings
are the same at every size: the nightly profile on local[cores], spark.driver.memory 8g,
4 x cores shuffle partitions, Spark's Arrow batch (10,000 rows), dedup.broadcast_rows.
Goal: each figure flat within 20% from 1M to 3M documents.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, nightly_config, save  # noqa: E402
from bench.incremental_bench import corpus  # noqa: E402

STAGES = ["ingest", "clean", "dedup"]
GIB = 2 ** 30


def child(lake_root: Path, warcs: Path, stage: str, cores: int) -> dict:
    """One `nightly --only stage` in this (fresh) process: its seconds, rows and peaks."""
    from pyspark.sql import functions as F

    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.nightly import run_nightly

    cfg = nightly_config(lake_root, [warcs], cores)
    spark = get_spark(cfg, f"bench-memory-{stage}")
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    with PeakMemory(roles=True) as mem:
        report = run_nightly(spark, lake, cfg, only=[stage])
    if report["status"] != "succeeded":
        raise SystemExit(f"nightly failed: {json.dumps(report, default=str)}")
    r = (lake.read("ops.runs").where((F.col("stage") == stage) & (F.col("status") == "succeeded"))
         .orderBy(F.col("started_at").desc()).first())
    spark.stop()
    return {"seconds": round(r["duration_s"], 1), "rows_in": r["rows_in"], "rows_kept": r["rows_kept"],
            "peak_tree_gib": round(mem.peak / GIB, 2), **{f"{k}_gib": round(v / GIB, 2) for k, v in mem.by_role.items()}}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", default="100000,1000000,3000000", help="lake sizes, comma-separated")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default="build/bench", help="where the corpora and the lakes go")
    ap.add_argument("--child", nargs=3, metavar=("LAKE", "WARCS", "STAGE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        lake, warcs, stage = args.child
        print("RESULT " + json.dumps(child(Path(lake), Path(warcs), stage, args.cores)), flush=True)
        return 0
    work = Path(args.work).resolve()
    sizes = [int(x) for x in args.docs.split(",")]
    result = {"cores": args.cores, "sizes": {}}
    for n in sizes:
        warcs = corpus(work, n, 0, 0)
        lake = work / f"lake-memory-{n}"
        subprocess.run(["rm", "-rf", str(lake)], check=True)
        result["sizes"][n] = {}
        for stage in STAGES:
            t = time.monotonic()
            p = subprocess.run([sys.executable, __file__, "--cores", str(args.cores), "--child", str(lake), str(warcs),
                                stage], capture_output=True, text=True)
            line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")), None)
            if p.returncode or line is None:
                sys.stderr.write(p.stdout[-4000:] + p.stderr[-4000:])
                raise SystemExit(f"{stage} at {n} documents failed (exit {p.returncode})")
            result["sizes"][n][stage] = json.loads(line[7:])
            print(f"{n} {stage} ({time.monotonic() - t:.0f} s): {result['sizes'][n][stage]}", flush=True)
    if len(sizes) > 1:
        a, b = sizes[-2], sizes[-1]
        result["growth"] = {s: {k: round(result["sizes"][b][s][k] / result["sizes"][a][s][k], 2)
                                for k in result["sizes"][a][s] if k.endswith("_gib") and result["sizes"][a][s][k]}
                            for s in STAGES}
    print(save(f"memory-{args.docs.replace(',', '-')}", result))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
