"""Crawl throughput under the politeness limits, against N sites on loopback.

Starts `--hosts` HTTP servers (corpora/sites.py, one 127.0.x.y address each, in a process of
their own) of `--pages`
linked pages (~1.2 KB of HTML) answering after `--response-ms`, seeds every page, and runs
`lakehouse crawl` (Spark local[cores]) with a per-host delay floor of `--delay` seconds and
`--in-flight` requests per host. Reported: pages/s of the fetch (and of the whole run with its
Delta writes), the politeness bound (hosts x in-flight / delay), the smallest gap between two
request arrivals at one host as the servers saw them (the limiter holding), WARC MB/s, then
`lakehouse ingest --crawl` of the WARC files (records/s) and the accounting.

    .venv/bin/python bench/crawl_bench.py --hosts 16 --pages 100 --delay 0.2
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, fresh_lake, save  # noqa: E402


def serve(hosts: int, pages: int, response_ms: float, ready, stop, logs) -> None:
    """The sites, in their own process (their handler threads must not share the driver's
    GIL): puts [(host, [paths])] on `ready`, and each site's request log on `logs` at `stop`."""
    from corpora.sites import generated_site

    sites = [generated_site(f"127.0.{1 + i // 200}.{10 + i % 200}", pages, seed=i) for i in range(hosts)]
    for s in sites:
        for r in s.routes.values():
            r.delay_s = response_ms / 1000
        s.start()
    ready.put([(s.host, list(s.routes)) for s in sites])
    stop.wait()
    logs.put([s.log for s in sites])
    for s in sites:
        s.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hosts", type=int, default=16)
    ap.add_argument("--pages", type=int, default=100, help="pages per host")
    ap.add_argument("--delay", type=float, default=0.2, help="crawl.delay_floor_s")
    ap.add_argument("--in-flight", type=int, default=1, help="crawl.per_host_in_flight")
    ap.add_argument("--response-ms", type=float, default=5.0, help="server think time per page")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--root", default=str(ROOT / "build" / "bench" / "crawl-lake"))
    args = ap.parse_args()

    import multiprocessing as mp

    from jobs.common.config import updated
    from jobs.crawl import crawl_inputs, run_crawl
    from jobs.ingest import run_ingest

    ctx = mp.get_context("spawn")
    ready, logs, stop = ctx.Queue(), ctx.Queue(), ctx.Event()
    server = ctx.Process(target=serve, args=(args.hosts, args.pages, args.response_ms, ready, stop, logs), daemon=True)
    server.start()
    hosts = ready.get(timeout=120)
    seeds = Path(args.root + "-seeds.txt")
    seeds.parent.mkdir(parents=True, exist_ok=True)
    seeds.write_text("".join(f"http://{h}{p}\n" for h, paths in hosts for p in paths))
    spark, lake, cfg = fresh_lake(args.root, "crawl-bench", args.cores)
    cfg = updated(cfg, {"crawl": {"seeds": [str(seeds)], "trust_env": False, "delay_floor_s": args.delay,
                                  "per_host_in_flight": args.in_flight, "max_depth": 0, "flush_every": 200,
                                  "hosts_per_task": max(1, -(-args.hosts // args.cores))}})
    try:
        with PeakMemory() as mem:
            t0 = time.monotonic()
            summary = run_crawl(spark, lake, cfg)
            run_s = time.monotonic() - t0
        row = lake.read("ops.runs").where(f"run_id = '{summary['run_id']}'").first()
        m = row.metrics
        stop.set()
        gaps = []
        firsts = []
        for log in logs.get(timeout=60):
            firsts.append(log[0][0] if log else None)
            arrivals = [t for t, p in log if p != "/robots.txt"]
            gaps += [b - a for a, b in zip(arrivals, arrivals[1:])]
        warc_bytes = lake.read("ops.crawl_files").agg({"warc_bytes": "sum"}).first()[0] or 0
        t1 = time.monotonic()
        ing = [run_ingest(spark, lake, cfg, e["paths"], e["dataset"], e["license"], e["manifest"])
               for e in crawl_inputs(lake, cfg)]
        ingest_s = time.monotonic() - t1
        pages = args.hosts * args.pages
        bound = args.hosts * args.in_flight / args.delay
        result = {
            "hosts": args.hosts, "pages_per_host": args.pages, "delay_floor_s": args.delay,
            "in_flight": args.in_flight, "response_ms": args.response_ms, "cores": args.cores,
            "fetched": summary["fetched"], "requests": summary["requests"], "rejected": summary["rejected"],
            "fetch_seconds": round(m["fetch_seconds"], 2), "rounds_seconds": round(m["rounds_seconds"], 2),
            "run_seconds": round(run_s, 2),
            "pages_per_s_fetch": round(summary["fetched"] / m["fetch_seconds"], 1),
            "pages_per_s_run": round(summary["fetched"] / run_s, 1),
            "politeness_bound_pages_per_s": round(bound, 1),
            "min_gap_at_host_s": round(min(gaps), 4), "min_gap_limiter_s": round(m.get("min_host_gap_s", 0), 4),
            "warc_mb": round(warc_bytes / 1e6, 2), "warc_mb_per_s": round(warc_bytes / 1e6 / m["fetch_seconds"], 2),
            "host_start_spread_s": round(max(f for f in firsts if f) - min(f for f in firsts if f), 2),
            "host_seconds_max": round(m.get("host_seconds_max", 0), 2),
            "host_seconds_mean": round(m.get("host_seconds_mean", 0), 2),
            "apply_seconds": round(m.get("apply_seconds", 0), 2), "seed_seconds": round(m.get("seed_seconds", 0), 2),
            "ingest_records": sum(r["rows_in"] for r in ing), "ingest_kept": sum(r["kept"] for r in ing),
            "ingest_seconds": round(ingest_s, 2),
            "accounted": row.rows_in == row.rows_kept + row.rows_rejected + m.get("rows_skipped", 0),
            "all_fetched": summary["fetched"] == pages, "peak_rss_gib": round(mem.peak / 2**30, 2),
        }
    finally:
        stop.set()
        server.join(timeout=30)
        spark.stop()
    print(json.dumps(result, indent=1))
    print("saved", save("crawl", result))
    return 0 if result["accounted"] and result["all_fetched"] else 1


if __name__ == "__main__":
    sys.exit(main())
