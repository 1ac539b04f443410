"""Fault and fuzz suite: bad inputs that must not crash ingest, and SIGKILLs that must not change tables.

    python bench/fault_bench.py                    # both parts
    python bench/fault_bench.py --part fuzz        # the bad-input corpus only (~2 min)
    python bench/fault_bench.py --part kill --points start,step1,step2 --stages ingest,clean,dedup,pii,tokenize,export

Fuzz: corpora/fuzz.py writes 40+ broken files (truncated, corrupt and zero-byte archives, bad
UTF-8, lone surrogates, huge and deeply nested lines, a gzip bomb, not-zstd .zst, truncated
and wrong-schema Parquet, FIFOs, sockets, symlink loops, an unreadable folder, corrupt and
bomb images, cut audio, a missing manifest entry); one nightly ingests them. Pass: the run
succeeds, rows in = kept + rejected (its own check), every file has an outcome (kept records
or a reject), and the Python workers, where the bad bytes are read, stay under
--max-worker-gb together (the JVM's heap is the driver's setting, not the input's doing).

Kill: an uninterrupted nightly over a generated sample is the reference. Then, for each stage
and kill point (start: right after its ops.runs row says running; stepN: after its Nth timed
step logged), a fresh lake runs the nightly in a subprocess, SIGKILLed there, then a second
nightly completes it; every table's content (Lake.fingerprint: an order-free hash of all
columns but run ids and timestamps) must equal the reference. Results go to
bench/results/fault-*.json; bench/README.md has the latest figures.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, machine, save  # noqa: E402

TABLES = ("bronze.documents", "bronze.media", "silver.documents", "silver.text_signals", "silver.minhash",
          "silver.redacted_documents", "silver.pii_audit", "gold.tokens", "ops.rejects", "ops.ingest_files",
          "gold.export_docs")
STAGES = ("ingest", "clean", "dedup", "pii", "tokenize", "export")


def fuzz(work: Path, cores: int, max_worker_gb: float) -> dict:
    from corpora import fuzz as corpus
    from jobs.common.config import updated
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.nightly import run_nightly

    src = work / "fuzz"
    cases = corpus.write(src)
    cfg = updated(bench_config(work / "lake-fuzz", cores), {"nightly": {"export": False, "inputs": [
        {"dataset": "fuzz-text", "paths": [str(src / "text")]},
        {"dataset": "fuzz-media", "manifest": str(src / "media" / "manifest.jsonl")}]}})
    spark = get_spark(cfg, "fault-bench-fuzz")
    lake = Lake(spark, cfg["lake"]["root"])
    t = time.monotonic()
    with PeakMemory(match="pyspark.daemon") as mem:   # the Python workers, where the bad bytes are read
        report = run_nightly(spark, lake, cfg, only=["ingest"])
    seconds = time.monotonic() - t
    corpus.unlock(src)
    runs = lake.read("ops.runs").where("stage = 'ingest'").collect()
    files = {r.file_uri: r for r in lake.read("ops.ingest_files").collect()}
    rejects = lake.read("ops.rejects").where("stage = 'ingest'")
    by_file = {}
    for r in rejects.groupBy("source_uri", "reason").count().collect():
        by_file.setdefault(r.source_uri, {})[r.reason] = r["count"]
    for r in lake.read("bronze.documents").groupBy("source_uri").count().collect():
        by_file.setdefault(r.source_uri, {})["kept"] = r["count"]
    for r in lake.read("bronze.media").groupBy("source_uri").count().collect():
        by_file.setdefault(r.source_uri, {})["kept"] = r["count"]
    outcome = {}
    for rel, why in cases.items():
        uri = f"file:{src / rel}"
        outcome[rel] = {"why": why, "outcome": by_file.get(uri, {}), "in_ingest_files": uri in files}
    crashes = [r.error.splitlines()[0] for r in runs if r.status != "succeeded"]
    accounted = all(r.rows_in == r.rows_kept + r.rows_rejected for r in runs)
    missing = [rel for rel, o in outcome.items() if not o["outcome"] and not (rel == "text/locked" and os.geteuid() == 0)]
    return {"cases": len(cases), "crashes": crashes, "status": report["status"], "accounted": accounted,
            "files_without_outcome": missing, "records_in": sum(r.rows_in for r in runs),
            "kept": sum(r.rows_kept for r in runs), "rejected": sum(r.rows_rejected for r in runs),
            "reasons": {r.reason: r["count"] for r in rejects.groupBy("reason").count().collect()},
            "peak_rss_gb": round(mem.peak / 2 ** 30, 2), "peak_python_workers_gb": round(mem.peak_matching / 2 ** 30, 2),
            "max_worker_rss_gb": max_worker_gb,
            "ok": not crashes and accounted and not missing and mem.peak_matching / 2 ** 30 < max_worker_gb,
            "seconds": round(seconds, 1), "per_file": outcome}


def _profile(work: Path, inputs: list[dict], name: str) -> Path:
    import yaml

    p = work / f"{name}.yaml"
    p.write_text(yaml.safe_dump({"nightly": {"inputs": inputs, "export": True},
                                 "license": {"datasets": {d["dataset"]: {"unknown": "keep"} for d in inputs}},
                                 "export": {"seq_length": 128, "shard_tokens": 100000},
                                 "mixing": {"missing": "renormalize"}}))   # a text-only corpus
    return p


def _nightly_cmd(profile: Path, lake: Path, cores: int) -> list[str]:
    sets = [f"spark.master=local[{cores}]", "spark.conf.spark.ui.enabled=false",
            f"spark.conf.spark.sql.shuffle.partitions={cores * 2}", "spark.conf.spark.driver.memory=4g"]
    return [sys.executable, "-m", "jobs.cli", "nightly", "--profile", str(profile), "--lake", str(lake),
            *[a for s in sets for a in ("--set", s)]]


def fingerprints(lake_root: Path) -> dict:
    """Fingerprints of every table, in a fresh process (a subprocess per lake keeps one JVM each)."""
    code = ("import json, sys\nfrom jobs.common.config import load_config\nfrom jobs.common.lake import Lake\n"
            "from jobs.common.spark import get_spark\n"
            "cfg = load_config('sample', ['spark.master=local[2]', 'spark.conf.spark.ui.enabled=false', "
            f"'lake.root={lake_root}'])\nlake = Lake(get_spark(cfg, 'fp'), cfg['lake']['root'])\n"
            f"print('FP ' + json.dumps({{t: lake.fingerprint(t) for t in {TABLES!r} if lake.exists(t)}}))\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=600)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("FP ")), None)
    if line is None:
        raise RuntimeError(p.stderr[-3000:])
    return json.loads(line[3:])


def kill_at(cmd: list[str], stage: str, point: str, timeout: float = 900) -> str:
    """Run the nightly, SIGKILL it at the point; returns what happened."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    want = 0 if point == "start" else int(point.removeprefix("step"))
    steps, started, t0 = 0, False, time.monotonic()
    for line in proc.stderr:
        if f"run {stage}-" in line and "started" in line:
            started = True
        elif started and line.split(": ", 1)[-1].startswith(f"{stage} ") and line.rstrip().endswith("s"):
            steps += 1                                   # a Timer line: "<stage> <step>: 1.2s"
        if started and steps >= want:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            return f"killed after {steps} steps"
        if time.monotonic() - t0 > timeout:
            break
    proc.wait()
    return f"ran to the end (exit {proc.returncode}) before the point"


def kills(work: Path, cores: int, stages: list[str], points: list[str], pages: int) -> dict:
    from corpora.sample import generate
    from jobs.sample import sample_inputs

    inputs = sample_inputs(generate(work / "corpus", n_pages=pages))
    profile = _profile(work, inputs, "fault")
    ref_lake = work / "lake-ref"
    t = time.monotonic()
    subprocess.run(_nightly_cmd(profile, ref_lake, cores), cwd=ROOT, check=True, capture_output=True, timeout=1800)
    ref_seconds = time.monotonic() - t
    ref = fingerprints(ref_lake)
    results = []
    for stage in stages:
        for point in points:
            lake = work / f"lake-{stage}-{point}"
            shutil.rmtree(lake, ignore_errors=True)
            t = time.monotonic()
            what = kill_at(_nightly_cmd(profile, lake, cores), stage, point)
            done = subprocess.run(_nightly_cmd(profile, lake, cores), cwd=ROOT, capture_output=True, text=True,
                                  timeout=1800)
            got = fingerprints(lake)
            diff = sorted(t for t in set(ref) | set(got) if ref.get(t) != got.get(t))
            results.append({"stage": stage, "point": point, "kill": what, "rerun_exit": done.returncode,
                            "identical": not diff and done.returncode == 0, "differs": diff,
                            "seconds": round(time.monotonic() - t, 1)})
            print(json.dumps(results[-1]), flush=True)
            shutil.rmtree(lake, ignore_errors=True)
    return {"reference_seconds": round(ref_seconds, 1), "pages": pages, "runs": results,
            "identical": sum(r["identical"] for r in results), "total": len(results)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--part", choices=["fuzz", "kill", "all"], default="all")
    ap.add_argument("--stages", default=",".join(STAGES))
    ap.add_argument("--points", default="start,step1,step2")
    ap.add_argument("--pages", type=int, default=200, help="pages of the generated sample the kills run on")
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--max-worker-gb", type=float, default=1.5,
                    help="peak RSS of all Python workers together that the fuzz part must stay under")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="fault-bench-"))
    os.environ["LAKEHOUSE_PII_SALT"] = "fault-bench"   # one salt for every lake, so audit hashes compare
    out = {"machine": machine(), "cores": args.cores}
    try:
        if args.part in ("fuzz", "all"):
            out["fuzz"] = fuzz(work, args.cores, args.max_worker_gb)
            print(json.dumps({k: v for k, v in out["fuzz"].items() if k != "per_file"}, indent=1), flush=True)
        if args.part in ("kill", "all"):
            out["kill"] = kills(work, args.cores, args.stages.split(","), args.points.split(","), args.pages)
    finally:
        from corpora import fuzz as corpus

        corpus.unlock(work / "fuzz")
        shutil.rmtree(work, ignore_errors=True)
    path = save("fault", out)
    print(f"results: {path}")
    ok = out.get("fuzz", {}).get("ok", True) and all(r["identical"] for r in out.get("kill", {}).get("runs", []))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
