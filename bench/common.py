"""Benchmark helpers: peak memory of a process tree, machine description, result files."""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _processes() -> tuple[dict[int, list[int]], dict[int, int]]:
    """({parent pid: child pids}, {pid: resident bytes}) of every process (Linux /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as fh:
                parts = fh.read().rsplit(")", 1)[1].split()
            ppid, pages = int(parts[1]), int(parts[21])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
        rss[int(d)] = pages * os.sysconf("SC_PAGE_SIZE")
    return children, rss


def _tree_rss(pid: int, match: str | None = None) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc); with `match`, only
    of those whose command line contains it (e.g. "pyspark" for the Python workers). A java
    child of a java process is the JVM forking a command (Hadoop's Shell, before its exec):
    it shows the JVM's pages a second time and is not counted."""
    children, rss = _processes()
    total, stack = 0, [(pid, False)]
    while stack:
        p, under_java = stack.pop()
        cmd = _cmdline(p)
        java = "java" in cmd.split(" ", 1)[0]
        if (match is None or match in cmd) and not (java and under_java):
            total += rss.get(p, 0)
        stack.extend((c, java) for c in children.get(p, []))
    return total


def rss_by_role(pid: int) -> dict[str, int]:
    """Resident bytes of a Spark driver's process tree by role: `driver` (the Python process
    `pid`), `jvm` (java processes: the driver's JVM, in local mode the executors' too),
    `python_workers` (all pyspark daemon/worker processes) and `python_worker_max` (the
    largest one). Forks of the JVM are not counted (_tree_rss)."""
    children, rss = _processes()
    out = {"driver": rss.get(pid, 0), "jvm": 0, "python_workers": 0, "python_worker_max": 0}
    stack = [(p, False) for p in children.get(pid, [])]
    while stack:
        p, under_java = stack.pop()
        cmd = _cmdline(p)
        java = "java" in cmd.split(" ", 1)[0]
        if java:
            out["jvm"] += 0 if under_java else rss.get(p, 0)   # a java child of the JVM: a fork
        elif "pyspark" in cmd:
            out["python_workers"] += rss.get(p, 0)
            out["python_worker_max"] = max(out["python_worker_max"], rss.get(p, 0))
        stack.extend((c, java) for c in children.get(p, []))
    return out


class PeakMemory:
    """Samples the RSS of this process tree (driver, JVM, Python workers) while running;
    `peak_matching`: of the processes whose command line contains `match`; `by_role`: each
    role's own peak (rss_by_role), with `roles=True`."""

    def __init__(self, interval: float = 0.25, match: str | None = None, roles: bool = False):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()
        self.match, self.peak_matching = match, 0
        self.roles, self.by_role = roles, {}

    def __enter__(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            if self.match:
                self.peak_matching = max(self.peak_matching, _tree_rss(os.getpid(), self.match))
            if self.roles:
                for k, v in rss_by_role(os.getpid()).items():
                    self.by_role[k] = max(self.by_role.get(k, 0), v)
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _tree_rss(os.getpid()))


def machine() -> str:
    cpu = "unknown cpu"
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")), cpu)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    result = {"date": datetime.now(UTC).strftime("%Y-%m-%d"), "machine": machine(), **result}
    path = RESULTS / f"{name}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def bench_config(lake_root, cores: int) -> dict:
    """The nightly profile on local[cores] with a fresh lake: what every Spark benchmark runs."""
    from jobs.common.config import load_config

    return load_config("nightly", [f"lake.root={lake_root}", f"spark.master=local[{cores}]",
                                   f"spark.conf.spark.sql.shuffle.partitions={cores * 4}",
                                   "spark.conf.spark.driver.memory=8g"])


def nightly_config(lake_root, inputs: list, cores: int, **changes) -> dict:
    """bench_config for `lakehouse nightly` over `inputs` as the dataset "bench" (licence
    unknown kept, no export), with `changes` merged in."""
    from jobs.common.config import updated

    return updated(bench_config(lake_root, cores), {
        "nightly": {"inputs": [{"dataset": "bench", "paths": [str(p) for p in inputs]}], "export": False},
        "license": {"datasets": {"bench": {"unknown": "keep"}}}, **changes})


def fresh_lake(root, name: str, cores: int):
    """(spark, lake, cfg) on an emptied lake folder `root`, with bench_config."""
    import shutil

    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark

    shutil.rmtree(root, ignore_errors=True)
    cfg = bench_config(root, cores)
    spark = get_spark(cfg, name)
    return spark, Lake(spark, cfg["lake"]["root"]), cfg


def write_parquet(docs, folder: Path, chunk: int = 50_000) -> Path:
    """Bench documents (doc_id, lang, text) as Parquet files, written in chunks with pyarrow
    (no driver-side DataFrame of millions of Python rows)."""
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for k in range(0, len(docs), chunk):
        part = docs[k:k + chunk]
        pq.write_table(pa.table({"doc_id": [d for d, _, _ in part], "lang": [lg for _, lg, _ in part],
                                 "text": [t for _, _, t in part]}), folder / f"part-{k // chunk:05d}.parquet")
    return folder


def write_silver(spark, lake, docs, cores: int, table: str = "silver.documents", **columns) -> None:
    """Bench documents as rows of `table` (silver.documents, or silver.redacted_documents as
    the PII stage leaves them: nothing found), lineage filled in. `docs`: a list of
    (doc_id, lang, text), or a folder written by `write_parquet`."""
    import tempfile
    from datetime import datetime

    from pyspark.sql import functions as F

    from schemas.tables import table as table_spec

    if not isinstance(docs, Path):
        docs = write_parquet(docs, Path(tempfile.mkdtemp(prefix="bench-silver-")))
    now = datetime(2026, 11, 1, tzinfo=UTC)
    fixed = {"source_uri": "file:/bench", "dataset": "bench", "license": "CC0-1.0", "ingest_run_id": "bench",
             "run_id": "bench", "stage": "clean" if table == "silver.documents" else "pii", "processed_at": now, "pipeline_version": "bench", "host": None,
             "fetch_time": now, "title": None, "lang_score": 0.99, "quality_score": 0.5, "quality_tier": "mid",
             "n_words": 0, "extractor": "none", "pii_count": 0, "license_status": "allowed",
             "pii_policy": "bench", **columns}
    derived = {"source_record": F.col("doc_id"), "content_sha256": F.col("doc_id"),
               "parent_ids": F.array().cast("array<string>"), "n_chars": F.length("text"),
               "pii_types": F.array().cast("array<string>"),
               "url": F.concat(F.lit("https://h"), F.expr("cast(substr(doc_id, 2) AS bigint) % 997").cast("string"),
                               F.lit(".example/"), F.col("doc_id"))}
    src = spark.read.parquet(str(docs))
    cols = []
    for f in table_spec(table).schema.fields:
        if f.name in src.columns:
            c = F.col(f.name)
        elif f.name in derived:
            c = derived[f.name]
        else:
            c = F.lit(fixed.get(f.name))
        cols.append(c.cast(f.dataType).alias(f.name))
    lake.merge_insert(table, src.select(*cols).repartition(cores * 4), check=False)
