"""Incremental nightly benchmark: a full build of a text lake, then a nightly adding a small share.

    python bench/incremental_bench.py --docs 1000000 --share 0.01 [--cores 2]

The corpus: generated WARC pages of paragraphs drawn at random from the sample texts
(corpora/sample.py generate_warcs, distinct), so that most survive dedup and the later
stages see most of the lake. Three runs of ingest, clean, dedup, pii and tokenize (`lakehouse nightly --only ...`), each
in its own Spark session on local[cores]:
  full:    an empty lake, the generated corpus of `--docs` WARC records;
  nightly: the same lake afterwards, with `--share` x docs new records arriving;
  alone:   an empty lake with only the new records.
Per stage: wall seconds, what Spark's tasks read (input bytes) and shuffled, and the bytes
the stage's Delta commits added (both recorded by every run: ops.runs.metrics and the
commits' userMetadata). Goals (issue 22): the nightly <= 10% of the full run, and <= 3x the
same stages on the new documents alone. The full lake's rates are also saved as a rates
file for `lakehouse plan --rates`.
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

from bench.common import RESULTS, PeakMemory, nightly_config, save  # noqa: E402

STAGES = ["ingest", "clean", "dedup", "pii", "tokenize"]


def corpus(root: Path, n: int, start: int, seed: int) -> Path:
    from corpora.sample import generate_warcs

    d = root / f"warc-distinct-{start}-{n}-s{seed}"
    if not (d / "_COMPLETE").exists():
        shutil.rmtree(d, ignore_errors=True)
        t = time.monotonic()
        generate_warcs(d, n, max(2, min(200, n // 5000)), seed=seed, start=start, distinct=True)
        (d / "_COMPLETE").write_text("ok")
        print(f"generated {n} records from {start} in {time.monotonic() - t:.1f}s", flush=True)
    return d


def run(lake_root: Path, inputs: list[Path], cores: int, fresh: bool) -> dict:
    """One nightly over `inputs`; per stage the run's seconds, bytes and rows."""
    from pyspark.sql import functions as F

    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.nightly import run_nightly
    from pipelines.plan import bytes_by_run

    if fresh:
        shutil.rmtree(lake_root, ignore_errors=True)
    cfg = nightly_config(lake_root, inputs, cores)
    spark = get_spark(cfg, "bench-incremental")
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    t0, since = time.monotonic(), datetime.now(UTC)
    with PeakMemory() as mem:
        report = run_nightly(spark, lake, cfg, only=STAGES)
    wall = time.monotonic() - t0
    if report["status"] != "succeeded":
        raise SystemExit(f"nightly failed: {json.dumps(report)}")
    runs = {r["stage"]: r for r in lake.read("ops.runs").where(F.col("started_at") >= since).select(
        "run_id", "stage", "rows_in", "rows_kept", "duration_s", "metrics", "output_versions").collect()}
    written = bytes_by_run(lake, {t for r in runs.values() for t in (r["output_versions"] or {})}, 200)
    out = {"wall_seconds": round(wall, 1), "peak_rss_gib": round(mem.peak / 2**30, 2), "stages": {}}
    for s in STAGES:
        r = runs.get(s)
        if r is None:
            out["stages"][s] = {"skipped": True}
            continue
        m = r["metrics"]
        out["stages"][s] = {"seconds": round(r["duration_s"], 1), "rows_in": r["rows_in"], "rows_kept": r["rows_kept"],
                            "read_bytes": int(m.get("input_bytes", 0)),
                            "shuffle_bytes": int(m.get("shuffle_write_bytes", 0)),
                            "written_bytes": sum(written.get(r["run_id"], {}).values()),
                            "written_by_table": written.get(r["run_id"], {})}
    rates = None
    if fresh:
        from pipelines.plan import rates_from_lake, save_rates
        rates = save_rates(rates_from_lake(lake), f"bench/incremental_bench.py full run of {lake_root.name}")
    spark.stop()
    return out, rates


def mb(b: int) -> str:
    return f"{b / 1e6:,.1f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--share", type=float, default=0.01)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default="build/bench", help="where the corpora and the lakes go")
    ap.add_argument("--label", default="", help="a name for this code state (e.g. before, after)")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    n_new = max(1, int(args.docs * args.share))
    base, new = corpus(work, args.docs, 0, 0), corpus(work, n_new, args.docs, 1)
    lake = work / f"lake-incremental-{args.docs}"
    full, rates = run(lake, [base], args.cores, fresh=True)
    nightly, _ = run(lake, [base, new], args.cores, fresh=False)
    alone, _ = run(work / f"lake-incremental-alone-{n_new}", [new], args.cores, fresh=True)
    rows = []
    for s in STAGES:
        f, n, a = full["stages"][s], nightly["stages"][s], alone["stages"][s]
        if n.get("skipped"):
            rows.append({"stage": s, "nightly": "skipped"})
            continue
        rows.append({"stage": s, "full_s": f["seconds"], "nightly_s": n["seconds"], "alone_s": a["seconds"],
                     "nightly_of_full": round(n["seconds"] / f["seconds"], 3),
                     "nightly_of_alone": round(n["seconds"] / a["seconds"], 2),
                     "full_read_mb": mb(f["read_bytes"]), "nightly_read_mb": mb(n["read_bytes"]),
                     "alone_read_mb": mb(a["read_bytes"]), "full_written_mb": mb(f["written_bytes"]),
                     "nightly_written_mb": mb(n["written_bytes"]), "alone_written_mb": mb(a["written_bytes"]),
                     "nightly_shuffle_mb": mb(n["shuffle_bytes"]), "alone_shuffle_mb": mb(a["shuffle_bytes"])})
    tot = {k: sum(r[k] for r in rows if k in r) for k in ("full_s", "nightly_s", "alone_s")}
    result = {"label": args.label, "docs": args.docs, "new_docs": n_new, "cores": args.cores, "per_stage": rows,
              "totals": {**tot, "nightly_of_full": round(tot["nightly_s"] / tot["full_s"], 3),
                         "nightly_of_alone": round(tot["nightly_s"] / tot["alone_s"], 2)},
              "runs": {"full": full, "nightly": nightly, "alone": alone}}
    print(json.dumps(result, indent=2))
    path = save(f"incremental-{args.docs}{'-' + args.label if args.label else ''}", result)
    rates_path = RESULTS / f"rates-text-{args.docs}.json"
    rates_path.write_text(rates + "\n")
    print(f"saved {path} and {rates_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
