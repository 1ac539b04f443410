"""Fetching one host's queue with httpx, politely, into WARC segments; one Spark task crawls
the hosts its partition holds (each host in exactly one task, so its limits hold run-wide).

Outcome of a URL (one log line): `fetched` (a response record in a WARC), `redirected` (to
another host: the target joins the frontier), `pending` (to be retried after `next_fetch_at`:
5xx, 408, 429, timeouts, connection errors, robots.txt unavailable, or a host paused longer
than the run waits) or `rejected` with a reason: robots_disallowed, http_<code> (4xx),
content_type_not_allowed, too_large, redirect_loop, too_many_redirects, or a retryable
reason once `max_attempts` is spent. Redirects to the same host are followed hop by hop,
each hop paced and checked against robots.txt.
"""
from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatch
from urllib.parse import urljoin, urlsplit

import httpx
import pyarrow as pa

from pipelines import uris
from pipelines.crawl.politeness import HostLimiter, backoff_s, retry_after_s
from pipelines.crawl.robots import fetch_robots
from pipelines.crawl.segments import SegmentWriter
from pipelines.crawl.urls import BadURL, host_key, links, normalize, robots_url
from pipelines.ingest.decode import DecodeError, decode_body, license_from_html, robots_meta
from pipelines.ingest.warc import mime_of

HTML_TYPES = ("text/html", "application/xhtml+xml")
SUMMARY = pa.schema([("host", pa.string()), ("urls", pa.int64()), ("requests", pa.int64()),
                     ("logs", pa.list_(pa.string())), ("min_gap_s", pa.float64()), ("seconds", pa.float64()),
                     ("not_before", pa.float64())])   # wall clock: the host's next request may start then


def _now() -> datetime:
    return datetime.now(UTC)


def type_allowed(mime: str, allow: list[str]) -> bool:
    return any(fnmatch(mime, pat.lower()) for pat in allow)


class HostCrawl:
    """One host's URLs, fetched under its robots.txt and limiter into one SegmentWriter."""

    def __init__(self, host: str, rows: list[dict], c: dict, writer: SegmentWriter, run_id: str,
                 not_before: float | None = None):
        self.host, self.rows, self.c, self.writer, self.run_id = host, rows, c, writer, run_id
        self.not_before = not_before      # wall clock (time.time()) of the host's next start: an earlier round's
        self.requests = 0
        self.client = httpx.Client(timeout=httpx.Timeout(c["timeout_s"], connect=c["connect_timeout_s"]),
                                   headers={"User-Agent": c["user_agent"]}, follow_redirects=False,
                                   trust_env=c["trust_env"])
        self.limiter: HostLimiter | None = None

    # -- outcomes ------------------------------------------------------------------------
    def _out(self, row: dict, status: str, reason: str | None = None, detail: str | None = None, **kw) -> dict:
        o = {"url": row["url"], "host": self.host, "dataset": row["dataset"], "depth": row["depth"],
             "run_id": self.run_id, "status": status, "reason": reason, "detail": (detail or "")[:1000] or None,
             "attempts": row["attempts"] + (0 if status == "pending" and reason == "host_paused" else 1),
             "updated_at": _now().isoformat(), **kw}
        self.writer.log(o)
        return o

    def _retry(self, row: dict, reason: str, detail: str, after_s: float | None = None, **kw) -> dict:
        attempts = row["attempts"] + 1
        if attempts >= self.c["max_attempts"]:
            return self._out(row, "rejected", reason, f"{detail} (attempt {attempts} of {attempts})", **kw)
        wait = after_s if after_s is not None else backoff_s(attempts, self.c["backoff_s"], self.c["backoff_max_s"])
        return self._out(row, "pending", reason, detail,
                         next_fetch_at=(_now() + timedelta(seconds=wait)).isoformat(), **kw)

    # -- the queue -----------------------------------------------------------------------
    def run(self) -> list[dict]:
        c = self.c
        try:
            self.limiter = HostLimiter(c["delay_floor_s"], c["delay_factor"], None, c["max_delay_s"],
                                       c["per_host_in_flight"])
            if self.not_before:
                self.limiter.pause(max(0.0, self.not_before - time.time()))
            self.limiter.acquire()      # robots.txt is a request to the host too
            t = time.monotonic()
            robots = fetch_robots(self.client, robots_url(self.rows[0]["url"]), c["robots_agent"],
                                  c["robots_max_bytes"])
            self.requests += 1
            self.limiter.release(time.monotonic() - t)
            self.robots = robots
            if robots.state == "unavailable":
                return [self._retry(r, "robots_unavailable", robots.detail) for r in self.rows]
            self.limiter.obey(robots.delay())
            todo: queue.Queue = queue.Queue()
            for r in self.rows:
                todo.put(r)
            out: list[dict] = []
            lock = threading.Lock()

            def worker():
                while True:
                    try:
                        r = todo.get_nowait()
                    except queue.Empty:
                        return
                    o = self.one(r)
                    with lock:
                        out.append(o)

            n = min(c["per_host_in_flight"], len(self.rows))
            if n <= 1:
                worker()
            else:
                threads = [threading.Thread(target=worker) for _ in range(n)]
                for th in threads:
                    th.start()
                for th in threads:
                    th.join()
            return out
        finally:
            self.client.close()

    def one(self, row: dict) -> dict:
        c, url = self.c, row["url"]
        if not self.robots.allowed(url):
            return self._out(row, "rejected", "robots_disallowed", f"robots.txt disallows {urlsplit(url).path}")
        wait = self.limiter.wait_s()
        if wait > c["max_host_wait_s"]:
            return self._out(row, "pending", "host_paused", f"host paused for {wait:.0f} s",
                             next_fetch_at=(_now() + timedelta(seconds=wait)).isoformat())
        target, seen = url, {url}
        for _ in range(c["max_redirects"] + 1):
            res = self.request(row, target)
            if not isinstance(res, str):
                return res
            nxt = res
            if nxt in seen:
                return self._out(row, "rejected", "redirect_loop", f"{target} redirects back to {nxt}")
            if host_key(nxt) != self.host:
                return self._out(row, "redirected", None, f"redirects to {nxt}", redirect_to=nxt)
            if not self.robots.allowed(nxt):
                return self._out(row, "rejected", "robots_disallowed", f"redirect target {nxt} disallowed")
            seen.add(nxt)
            target = nxt
        return self._out(row, "rejected", "too_many_redirects", f"more than {c['max_redirects']} redirects")

    def request(self, row: dict, target: str):
        """One GET: an outcome dict, or the next hop's URL (a same-host redirect)."""
        c = self.c
        started = self.limiter.acquire()
        fetched_at = _now()
        self.requests += 1
        elapsed = None
        try:
            with self.client.stream("GET", target) as r:
                elapsed = time.monotonic() - started
                code = r.status_code
                common = {"http_status": code, "final_url": target, "fetched_at": fetched_at.isoformat(),
                          "elapsed_s": round(elapsed, 4)}
                if r.is_redirect:
                    loc = r.headers.get("location")
                    try:
                        return normalize(urljoin(target, loc or ""))
                    except BadURL as e:
                        return self._out(row, "rejected", f"http_{code}", f"bad redirect Location: {e}", **common)
                if code in (429, 503):
                    after = retry_after_s(r.headers.get("retry-after"))
                    pause = after if after is not None else backoff_s(row["attempts"] + 1, c["backoff_s"],
                                                                       c["backoff_max_s"])
                    self.limiter.pause(min(pause, c["retry_after_max_s"]))
                    return self._retry(row, f"http_{code}", f"HTTP {code}, Retry-After {r.headers.get('retry-after')}",
                                       after_s=min(pause, c["retry_after_max_s"]), **common)
                if code >= 500 or code == 408:
                    return self._retry(row, f"http_{code}", f"HTTP {code}", **common)
                if code >= 300 or code < 200:
                    return self._out(row, "rejected", f"http_{code}", f"HTTP {code}", **common)
                mime = mime_of(r.headers.get("content-type")) or "application/octet-stream"
                common["content_type"] = mime
                if not type_allowed(mime, c["content_types"]):
                    return self._out(row, "rejected", "content_type_not_allowed", f"content type {mime}", **common)
                declared = r.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > c["max_body_bytes"]:
                    return self._out(row, "rejected", "too_large",
                                     f"Content-Length {declared} over {c['max_body_bytes']}", **common)
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) > c["max_body_bytes"]:
                        return self._out(row, "rejected", "too_large", f"body over {c['max_body_bytes']} bytes",
                                         **common)
                elapsed = time.monotonic() - started
                common["elapsed_s"] = round(elapsed, 4)
                return self.store(row, target, r, bytes(body), mime, fetched_at, common)
        except httpx.TimeoutException as e:
            return self._retry(row, "timeout", f"{type(e).__name__} after {c['timeout_s']} s: {target}",
                               fetched_at=fetched_at.isoformat())
        except httpx.TransportError as e:
            return self._retry(row, "connect_error", f"{type(e).__name__}: {e}",
                               fetched_at=fetched_at.isoformat())
        finally:
            self.limiter.release(elapsed)

    def store(self, row, target, r, body: bytes, mime: str, fetched_at, common) -> dict:
        c = self.c
        path = urlsplit(target)
        req_line = f"GET {path.path or '/'}{'?' + path.query if path.query else ''} HTTP/1.1"
        req_headers = [(k, v) for k, v in r.request.headers.items()]
        status_line = f"{r.status_code} {r.reason_phrase or ''}".strip()
        warc_uri, offset, length = self.writer.write(target, req_line, req_headers, status_line,
                                                     list(r.headers.multi_items()), body, fetched_at, None)
        meta = {"license": None, "robots_meta": None, "links": None}
        if mime in HTML_TYPES:
            try:
                html, _ = decode_body(body, r.charset_encoding, True)
            except DecodeError:
                html = None
            if html is not None:
                meta["license"] = license_from_html(html)
                meta["robots_meta"] = robots_meta(html, c["robots_agent"])
                nofollow = "nofollow" in (meta["robots_meta"] or "") or "nofollow" in (
                    r.headers.get("x-robots-tag") or "").lower()
                if row["depth"] < c["max_depth"] and not nofollow:
                    meta["links"] = links(html, target)[:c["max_links_per_page"]]
        return self._out(row, "fetched", None, None, warc_uri=warc_uri, warc_offset=offset, warc_length=length,
                         content_length=len(body), x_robots_tag=r.headers.get("x-robots-tag"), **common, **meta)


def segment_prefix(run_id: str, host: str) -> str:
    return f"{run_id}-{hashlib.sha1(host.encode()).hexdigest()[:12]}"


def published(log_dir: str, prefix: str, s3: dict | None, logs: list[str] | None = None
              ) -> tuple[set[str], int, list[str]]:
    """URLs an earlier attempt of this task already logged under `prefix`, the next segment
    number and those logs' URIs (a retried Spark task does not fetch them again). `logs`:
    the folder's listing, when the caller has it (one listing per task, not per host)."""
    if logs is None:
        logs = uris.list_files(log_dir, s3, ".jsonl")
    done, seq, found = set(), 0, []
    for uri in logs:
        name = uri.rsplit("/", 1)[-1]
        if name.startswith(prefix + "-"):
            seq = max(seq, int(name[len(prefix) + 1:-len(".jsonl")]) + 1)
            found.append(uri)
            done |= {json.loads(line)["url"] for line in uris.read_bytes(uri, s3).decode().splitlines()
                     if line.strip()}
    return done, seq, sorted(found)


def crawl_fn(c: dict, run_id: str, warc_dir: str, log_dir: str, s3: dict | None, info: dict,
             not_before: dict[str, float] | None = None, round_no: int = 0):
    """mapInArrow: frontier rows (url, host, dataset, depth, attempts) of some hosts -> one
    summary row per host; the outcomes themselves go to the published logs, in `log_dir`
    (the run's and round's own folder). `not_before`: host -> wall-clock time its next
    request may start (left by the run's earlier round)."""
    not_before = not_before or {}

    def crawl_one(host: str, rows: list[dict], listing: list[str]) -> dict:
        t0 = time.monotonic()
        prefix = segment_prefix(f"{run_id}-r{round_no}", host)
        done, seq, earlier = published(log_dir, prefix, s3, listing)
        rows = [r for r in rows if r["url"] not in done]
        writer = SegmentWriter(warc_dir, log_dir, prefix, info, c["warc_max_bytes"], c["flush_every"], s3, seq)
        crawl = HostCrawl(host, rows, c, writer, run_id, not_before.get(host)) if rows else None
        try:
            if crawl is not None:
                crawl.run()
        finally:
            writer.close()
        starts = crawl.limiter.starts if crawl is not None and crawl.limiter is not None else []
        gaps = [b - a for a, b in zip(starts, starts[1:])]
        nxt = time.time() + crawl.limiter.wait_s() if crawl is not None and crawl.limiter is not None else None
        return {"host": host, "urls": len(rows), "requests": crawl.requests if crawl else 0,
                "logs": earlier + writer.published, "min_gap_s": min(gaps) if gaps else None,
                "seconds": time.monotonic() - t0, "not_before": nxt}

    def fn(batches):
        by_host: dict[str, list[dict]] = defaultdict(list)
        for b in batches:
            for r in b.to_pylist():
                by_host[r["host"]].append(r)
        if not by_host:
            return
        listing = uris.list_files(log_dir, s3, ".jsonl")      # an earlier attempt's logs, listed once
        with ThreadPoolExecutor(max_workers=len(by_host)) as ex:     # every host at once: they wait, not compute
            results = list(ex.map(lambda h: crawl_one(h, by_host[h], listing), sorted(by_host)))
        yield pa.RecordBatch.from_pylist(results, schema=SUMMARY)

    return fn
