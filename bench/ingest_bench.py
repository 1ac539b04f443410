"""Ingest benchmark: generated WARC corpus -> bronze.documents through Spark + Delta.

    python bench/ingest_bench.py --records 100000 [--cores 2]

Reports, on the same files: (1) fastwarc alone in one process (parse + read payloads),
(2) the project's WARC reader alone in one process (parse, decode, hash, license), and
(3) the reader through Spark alone: the stage's parse (`mapInArrow` over the planned file
bins) into Spark's noop sink, local[cores], so the Arrow hand-over is in it and no cache or
Delta write is, and (4) the whole ingest stage through Spark local[cores] into Delta (MERGE,
rejects, run row), as records/s and MB/s (compressed input) per core, with peak memory of
the process tree.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import PeakMemory, bench_config, save  # noqa: E402


def corpus(root: Path, n: int, n_files: int) -> list[Path]:
    from corpora.sample import generate_warcs

    d = root / f"warc-{n}-{n_files}"
    marker = d / "_COMPLETE"
    if not marker.exists():
        shutil.rmtree(d, ignore_errors=True)
        t = time.monotonic()
        generate_warcs(d, n, n_files)
        marker.write_text("ok")
        print(f"generated {n} records in {time.monotonic() - t:.1f}s", flush=True)
    return sorted(d.glob("*.warc.gz"))


def raw_fastwarc(files: list[Path]) -> dict:
    from fastwarc.warc import ArchiveIterator, WarcRecordType

    t, n = time.monotonic(), 0
    for f in files:
        with open(f, "rb") as fh:
            for rec in ArchiveIterator(fh, record_types=WarcRecordType.response, parse_http=True):
                rec.reader.read()
                n += 1
    return {"records": n, "seconds": time.monotonic() - t}


def project_reader(files: list[Path]) -> dict:
    from jobs.common.config import defaults
    from pipelines.ingest import context_from_config
    from pipelines.ingest.warc import iter_warc

    ctx = context_from_config(defaults(), "bench", "bench")
    t, n = time.monotonic(), 0
    for f in files:
        with open(f, "rb") as fh:
            n += sum(1 for _ in iter_warc(fh, f"file:{f}", "bench", ctx))
    return {"records": n, "seconds": time.monotonic() - t}


def spark_parse(files_dir: Path, cores: int) -> dict:
    """The stage's parse alone: file listing, bins, the reader in mapInArrow, into the noop sink."""
    from jobs.common.config import defaults
    from jobs.common.spark import get_spark
    from pipelines.ingest import context_from_config, list_inputs, parse_files

    cfg = bench_config(files_dir.parent / "lake-noop", cores)
    spark = get_spark(cfg, "bench-ingest-parse")
    ctx = context_from_config(defaults(), "bench", "bench")
    files = list_inputs(spark, [str(files_dir)], "bench")
    parse_files(spark, files[:1], ctx).write.format("noop").mode("overwrite").save()   # warm the workers
    t = time.monotonic()
    parse_files(spark, files, ctx).write.format("noop").mode("overwrite").save()
    secs = time.monotonic() - t
    spark.stop()
    return {"seconds": secs}


def spark_stage(files_dir: Path, lake_root: Path, cores: int) -> dict:
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.ingest import run_ingest

    shutil.rmtree(lake_root, ignore_errors=True)
    cfg = bench_config(lake_root, cores)
    with PeakMemory() as mem:
        t0 = time.monotonic()
        spark = get_spark(cfg, "bench-ingest")
        lake = Lake(spark, cfg["lake"]["root"])
        lake.ensure("ops.runs")
        startup = time.monotonic() - t0
        summary = run_ingest(spark, lake, cfg, [str(files_dir)], "bench")
        wall = time.monotonic() - t0
    run = lake.read("ops.runs").filter(f"run_id = '{summary['run_id']}'").first()
    spark.stop()
    steps = {k: round(v, 1) for k, v in run.metrics.items() if k.endswith("_seconds")}
    return {**summary, "startup_seconds": startup, "wall_seconds": wall, "stage_seconds": summary["seconds"],
            "steps": steps, "peak_rss_bytes": mem.peak}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default="build/bench", help="where the corpus and the lake go")
    args = ap.parse_args()
    work = Path(args.work).resolve()
    files = corpus(work, args.records, args.files)
    mb = sum(f.stat().st_size for f in files) / 1e6
    print(f"corpus: {len(files)} files, {mb:.1f} MB compressed", flush=True)

    raw = raw_fastwarc(files)
    own = project_reader(files)
    parse = spark_parse(files[0].parent, args.cores)
    stage = spark_stage(files[0].parent, work / "lake", args.cores)
    n = stage["rows_in"]
    per_core = lambda recs, secs, cores: recs / secs / cores  # noqa: E731
    result = {
        "records": n, "files": len(files), "input_mb": round(mb, 1), "cores": args.cores,
        "fastwarc_1proc": {"records_per_s": round(raw["records"] / raw["seconds"]),
                           "mb_per_s": round(mb / raw["seconds"], 1)},
        "reader_1proc": {"records_per_s": round(own["records"] / own["seconds"]),
                         "mb_per_s": round(mb / own["seconds"], 1)},
        "spark_parse": {"records_per_s_per_core": round(per_core(own["records"], parse["seconds"], args.cores)),
                        "seconds": round(parse["seconds"], 1)},
        "spark_stage": {
            "records_per_s_per_core": round(per_core(n, stage["stage_seconds"], args.cores)),
            "mb_per_s_per_core": round(mb / stage["stage_seconds"] / args.cores, 2),
            "stage_seconds": round(stage["stage_seconds"], 1), "steps_seconds": stage["steps"],
            "startup_seconds": round(stage["startup_seconds"], 1), "peak_rss_gib": round(stage["peak_rss_bytes"] / 2**30, 2),
            "kept": stage["kept"], "rejected": stage["rejected"], "written": stage["written"],
        },
    }
    result["ratio_stage_per_core_vs_fastwarc"] = round(
        result["spark_stage"]["records_per_s_per_core"] / result["fastwarc_1proc"]["records_per_s"], 3)
    result["ratio_stage_per_core_vs_reader"] = round(
        result["spark_stage"]["records_per_s_per_core"] / result["reader_1proc"]["records_per_s"], 3)
    result["ratio_parse_per_core_vs_reader"] = round(
        result["spark_parse"]["records_per_s_per_core"] / result["reader_1proc"]["records_per_s"], 3)
    print(json.dumps(result, indent=2))
    print(f"saved {save('ingest', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
