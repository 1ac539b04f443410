"""Benchmark helpers: peak memory of a process tree, machine description, result files."""
from __future__ import annotations

import json
import os
import platform
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def _tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (Linux /proc)."""
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
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack.extend(children.get(p, []))
    return total


class PeakMemory:
    """Samples the RSS of this process tree (driver, JVM, Python workers) while running."""

    def __init__(self, interval: float = 0.25):
        self.interval, self.peak, self._stop = interval, 0, threading.Event()

    def __enter__(self):
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()
        return self

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, _tree_rss(os.getpid()))
            time.sleep(self.interval)

    def __exit__(self, *exc):
        self._stop.set()
        self._t.join()
        self.peak = max(self.peak, _tree_rss(os.getpid()))


def machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}"


def save(name: str, result: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d"), "machine": machine(), **result}
    path = RESULTS / f"{name}-{result['date']}.json"
    path.write_text(json.dumps(result, indent=2))
    return path


def bench_config(lake_root, cores: int) -> dict:
    """The nightly profile on local[cores] with a fresh lake: what every Spark benchmark runs."""
    from jobs.common.config import load_config

    return load_config("nightly", [f"lake.root={lake_root}", f"spark.master=local[{cores}]",
                                   f"spark.conf.spark.sql.shuffle.partitions={cores * 4}",
                                   "spark.conf.spark.driver.memory=8g"])


def write_silver(spark, lake, docs, cores: int, **columns) -> None:
    """Bench documents (doc_id, lang, text) as silver.documents rows (lineage filled in)."""
    from datetime import datetime, timezone

    from schemas.tables import SILVER_DOCUMENTS

    now = datetime(2026, 11, 1, tzinfo=timezone.utc)
    rows = ({"doc_id": d, "source_uri": "file:/bench", "source_record": d, "dataset": "bench", "license": "CC0-1.0",
             "content_sha256": d, "parent_ids": [], "ingest_run_id": "bench", "run_id": "bench", "stage": "clean",
             "processed_at": now, "pipeline_version": "bench", "url": f"https://h{int(d[1:]) % 997}.example/{d}",
             "host": None, "fetch_time": now, "title": None, "text": text, "lang": lang, "lang_score": 0.99,
             "quality_score": 0.5, "quality_tier": "mid", "n_chars": len(text), "n_words": 0, "extractor": "none",
             **columns}
            for d, lang, text in docs)
    df = spark.createDataFrame(rows, SILVER_DOCUMENTS).repartition(cores * 4)
    lake.merge_insert("silver.documents", df, check=False)
