"""Clean benchmark: the whole clean stage through Spark on >= 100,000 generated documents,
next to DataTrove's equivalent pipeline in one process on the same documents.

    python bench/clean_bench.py --records 100000 [--cores 2] [--skip-datatrove]

The documents are the ingest benchmark's WARC corpus (HTML pages in 19 languages); they are
ingested into a fresh lake first (not timed), then `run_clean` is timed. DataTrove runs in
build/bench/dt-venv (created here), see bench/datatrove_clean.py.
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, save  # noqa: E402
from bench.ingest_bench import corpus  # noqa: E402

DT_VENV = ROOT / "build" / "bench" / "dt-venv"
DT_PACKAGES = ["datatrove[processing]==0.10.1", "warcio", "faust-cchardet", "resiliparse==2.0.1", "lxml_html_clean", "python-magic", "orjson"]


def datatrove_python() -> Path:
    """The DataTrove reference venv's interpreter, created on first use."""
    py = DT_VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(DT_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *DT_PACKAGES], check=True)
    return py


def spark_clean(warc_dir: Path, lake_root: Path, cores: int) -> dict:
    from jobs.clean import run_clean
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.ingest import run_ingest

    shutil.rmtree(lake_root, ignore_errors=True)
    cfg = bench_config(lake_root, cores)
    spark = get_spark(cfg, "bench-clean")
    lake = Lake(spark, cfg["lake"]["root"])
    run_ingest(spark, lake, cfg, [str(warc_dir)], "bench")
    mb = lake.read("bronze.documents").selectExpr("sum(byte_length)").first()[0] / 1e6
    with PeakMemory() as mem:
        summary = run_clean(spark, lake, cfg)
    run = lake.read("ops.runs").filter(f"run_id = '{summary['run_id']}'").first()
    steps = {k: round(v, 1) for k, v in run.metrics.items() if k.endswith("_seconds")}
    spark.stop()
    return {**summary, "html_mb": mb, "steps": steps, "peak_rss_bytes": mem.peak}


def datatrove(warc_dir: Path, extractor: str, limit: int) -> dict:
    from quality_models.models import lid_path
    from quality_models.quality import model_path

    py = datatrove_python()
    out = subprocess.run([str(py), str(ROOT / "bench" / "datatrove_clean.py"), str(warc_dir), str(lid_path()),
                          str(model_path()), "--extractor", extractor, "--limit", str(limit)],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--datatrove-docs", type=int, default=20_000,
                    help="documents DataTrove processes (one process; its rate is per core already)")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--work", default="build/bench")
    args = ap.parse_args()
    work = (ROOT / args.work).resolve()
    files = corpus(work, args.records, args.files)
    stage = spark_clean(files[0].parent, work / "lake-clean", args.cores)
    secs = stage["seconds"]
    result = {
        "records": stage["rows_in"], "cores": args.cores, "html_mb": round(stage["html_mb"], 1),
        "spark_stage": {"docs_per_s_per_core": round(stage["rows_in"] / secs / args.cores, 1),
                        "mb_per_s_per_core": round(stage["html_mb"] / secs / args.cores, 2),
                        "seconds": secs, "steps_seconds": stage["steps"], "kept": stage["kept"],
                        "rejected": stage["rejected"], "peak_rss_gib": round(stage["peak_rss_bytes"] / 2**30, 2),
                        "top_drops": dict(list(stage["dropped"].items())[:8])},
    }
    if not args.skip_datatrove:
        for ex in ("trafilatura", "resiliparse"):
            dt = datatrove(files[0].parent, ex, args.datatrove_docs)
            result[f"datatrove_{ex}_1proc"] = dt
            result[f"ratio_vs_datatrove_{ex}"] = round(result["spark_stage"]["docs_per_s_per_core"] / dt["docs_per_s"], 2)
    print(json.dumps(result, indent=2))
    print(f"saved {save('clean', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
