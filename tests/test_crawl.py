"""lakehouse crawl through Spark against sites on loopback (corpora/sites.py, never the
internet): frontier states, robots.txt, per-host pacing, failures as outcomes, WARC output
read by ingest with its licence and robots signals, retries after back-off, media via
yt-dlp, a killed crawl resumed without refetching."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from corpora.sites import Route, Site, generated_site, page
from jobs.common.config import updated
from jobs.common.lake import Lake
from jobs.crawl import run_crawl
from jobs.ingest import run_inputs
from tests import conftest
from tests.conftest import TEST_OVERRIDES
from tests.test_crawl_units import media_items

ROOT = Path(__file__).resolve().parents[1]
CRAWL = {"trust_env": False, "delay_floor_s": 0.02, "timeout_s": 1.0, "connect_timeout_s": 1.0, "backoff_s": 0.5,
         "max_attempts": 2, "max_depth": 1, "flush_every": 4}


def runs_accounted(lake, run_id):
    r = lake.read("ops.runs").where(F.col("run_id") == run_id).first()
    assert r.status == "succeeded", r.error
    assert r.rows_in == r.rows_kept + r.rows_rejected + (r.metrics or {}).get("rows_skipped", 0)
    return r


@pytest.fixture(scope="module")
def crawled(spark, tmp_path_factory):
    a = generated_site("127.0.0.2", 8, seed=3,
                       robots="User-agent: *\nDisallow: /p/6\nDisallow: /*.pdf$\nCrawl-delay: 0.2\n").start()
    a.routes["/noai"] = Route(body=page("Opted out", "a page that asks not to be used for AI", [], "by",
                                        meta_robots="noai"))
    a.routes["/p/0"] = Route(body=page("Start", "the first page", ["/p/1", "/noai", "/doc.pdf", "/p/6"], "by"))
    b = Site("127.0.0.3").start()
    b.routes.update({
        "/": Route(body=page("Home", "links to everything that can go wrong",
                             ["/gone", "/err", "/busy", "/slow", "/loop", "/big", "/zip", "/hop",
                              a.url("/p/7")])),          # another host: not followed (follow: same_host)
        "/gone": Route(404, b"no"), "/err": Route(500, b"boom"),
        "/busy": Route(429, b"wait", {"Retry-After": "1", "Content-Type": "text/plain"}, times=1,
                       then=Route(body=page("Busy", "served on the second try", []))),
        "/slow": Route(body=b"late", delay_s=2.0), "/big": Route(body=b"x" * 50000),
        "/zip": Route(body=b"PK", headers={"Content-Type": "application/zip"}),
        "/loop": Route(302, b"", {"Location": "/loop2"}), "/loop2": Route(302, b"", {"Location": "/loop"}),
        "/hop": Route(301, b"", {"Location": a.url("/p/2")})})
    root = tmp_path_factory.mktemp("crawl-stage")
    seeds = root / "seeds.txt"
    seeds.write_text(f"# seeds\n{a.url('/p/0')}\n{b.url('/')}\n{a.url('/p/0')}#again\nnot a url\n")
    media = media_items(root / "media-src")
    cfg = updated(conftest.test_config(root / "lake"), {"crawl": {
        **CRAWL, "seeds": [str(seeds)], "max_body_bytes": 20000,
        "media": {"sources": media, "enable_file_urls": True, "sleep_interval_s": 0, "max_sleep_interval_s": 0}},
        "nightly": {"inputs": []}})
    lake = Lake(spark, cfg["lake"]["root"])
    first = run_crawl(spark, lake, cfg)
    states1 = {r.url: (r.status, r.reason) for r in lake.read("ops.frontier").collect()}
    hits1 = {p: s.hits(p) for s in (a, b) for p in list(s.routes) + ["/p/6", "/doc.pdf"]}
    ingest = run_inputs(spark, lake, cfg)
    time.sleep(1.2)                  # past the back-off and the 429's Retry-After
    second = run_crawl(spark, lake, cfg)
    yield {"lake": lake, "cfg": cfg, "a": a, "b": b, "first": first, "second": second, "states1": states1,
           "hits1": hits1, "ingest": ingest}
    a.stop()
    b.stop()


def test_frontier_states_after_the_first_run(crawled):
    a, b, s = crawled["a"], crawled["b"], crawled["states1"]
    pages = {a.url(f"/p/{i}"): ("fetched", None) for i in range(0, 3)}
    expected = {**pages, a.url("/noai"): ("fetched", None), a.url("/doc.pdf"): ("rejected", "robots_disallowed"),
                a.url("/p/6"): ("rejected", "robots_disallowed"),
                b.url("/"): ("fetched", None), b.url("/gone"): ("rejected", "http_404"),
                b.url("/err"): ("pending", "http_500"), b.url("/busy"): ("pending", "http_429"),
                b.url("/slow"): ("pending", "timeout"), b.url("/loop"): ("rejected", "redirect_loop"),
                b.url("/big"): ("rejected", "too_large"), b.url("/zip"): ("rejected", "content_type_not_allowed"),
                b.url("/hop"): ("redirected", None)}
    # three rounds: the seeds; their links (depth 1); p/2, which b's /hop redirected to (depth 1: no links
    # taken from it, nor from p/1, at max_depth 1)
    got = {u: v for u, v in s.items() if not u.startswith("file:")}
    assert {u: got.get(u) for u in expected} == expected
    assert a.url("/p/7") not in got                      # cross-host link, same_host policy
    assert set(got) - set(expected) == set()
    first = crawled["first"]
    assert first["rejected"] == 6 + 1 + 1               # 6 URLs, the bad seed line, the unlicensed media item
    r = runs_accounted(crawled["lake"], first["run_id"])
    assert r.metrics["deferred"] == 3 and r.metrics["seeds_read"] == 4 and r.metrics["seeds_added"] == 2
    rejects = {x.source_record: x.reason for x in crawled["lake"].read("ops.rejects").where("stage = 'crawl'").collect()}
    assert rejects["not a url"] == "bad_url" and rejects[b.url("/gone")] == "http_404"


def test_robots_and_politeness_held(crawled):
    a, hits = crawled["a"], crawled["hits1"]
    assert hits["/p/6"] == 0 and hits["/doc.pdf"] == 0   # disallowed: never requested
    arrivals = [t for t, p in a.log if p != "/robots.txt"]
    gaps = [y - x for x, y in zip(arrivals, arrivals[1:])]
    assert min(gaps) >= 0.2 - 0.01                       # Crawl-delay: 0.2 as the host saw it
    assert a.max_in_flight == 1      # (b's /slow outlives the client's timeout: the host sees one overlap)
    assert crawled["lake"].read("ops.runs").where(F.col("run_id") == crawled["first"]["run_id"]).first() \
        .metrics["min_host_gap_s"] >= 0.02 - 1e-9


def test_retries_after_backoff_and_nothing_refetched(crawled):
    a, b, lake = crawled["a"], crawled["b"], crawled["lake"]
    second = crawled["second"]
    runs_accounted(lake, second["run_id"])
    f = {r.url: r for r in lake.read("ops.frontier").collect()}
    assert (f[b.url("/busy")].status, f[b.url("/busy")].attempts) == ("fetched", 2)     # 429, then served
    assert (f[b.url("/err")].status, f[b.url("/err")].reason) == ("rejected", "http_500")   # attempts spent
    assert (f[b.url("/slow")].status, f[b.url("/slow")].reason) == ("rejected", "timeout")
    assert second["requests"] == 3 + 1                   # the three retried, and b's robots.txt
    for i in range(3):
        assert a.hits(f"/p/{i}") == 1                    # fetched once, never again
    third = run_crawl(lake.spark, lake.activate(), crawled["cfg"])
    # nothing due: no request; the seed file's bad line and the unlicensed item are looked at again
    assert third["rows_in"] == 2 and third["requests"] == 0 and third["rejected"] == 2


def test_warc_ingested_with_licence_and_robots_signals(crawled):
    from jobs.pii import robots_tags
    from pipelines.pii.license import decide_license, license_policy

    lake, a = crawled["lake"].activate(), crawled["a"]
    fetched = {r.url: r for r in lake.read("ops.frontier").where("kind = 'page' AND status = 'fetched'").collect()
               if r.url in crawled["states1"] and crawled["states1"][r.url][0] == "fetched"}
    docs = {r.url: r for r in lake.read("bronze.documents").where("dataset = 'crawl'").collect()}
    assert set(docs) == set(fetched)                     # every fetched page, once
    for url, d in docs.items():
        expect = fetched[url].license or "unknown"
        assert d.license == expect, url
        assert d.source_uri == fetched[url].warc_uri and d.source_offset == fetched[url].warc_offset
    assert docs[a.url("/p/0")].license == "CC-BY-4.0"
    licensed = {u: d.license for u, d in docs.items() if d.license != "unknown"}
    assert {"CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0"} <= set(licensed.values())
    tags = {r.doc_id: r.robots_tag for r in robots_tags(lake).collect()}
    noai = docs[a.url("/noai")]
    assert tags[noai.doc_id] == "noai"
    pol = license_policy(crawled["cfg"])
    status, reason, _ = decide_license(F.col("robots_tag"), pol)
    decided = (lake.read("bronze.documents").join(robots_tags(lake), "doc_id", "left")
               .where(F.col("doc_id") == noai.doc_id).select(reason.alias("reason")).first())
    assert decided.reason == "robots_optout"
    assert lake.read("ops.crawl_files").where("warc_uri IS NOT NULL").count() >= 2
    ingest = crawled["ingest"]          # the nightly's ingest: the crawl's WARC files and media manifest
    assert set(ingest["datasets"]) == {"crawl", "crawl-media"}
    from jobs import stages

    assert [s.name for s in stages.order(crawled["cfg"])][:2] == ["crawl", "ingest"]   # seeds set: crawl runs first


def test_media_fetched_by_licence_with_provenance(crawled):
    lake = crawled["lake"].activate()
    media = {r.url.rsplit("/", 1)[1]: r for r in lake.read("ops.frontier").where("kind = 'media'").collect()}
    assert (media["talk.wav"].status, media["clip.wav"].status) == ("fetched", "rejected")
    assert media["clip.wav"].reason == "license_absent" and media["talk.wav"].license == "CC-BY"
    rows = lake.read("bronze.media").where("dataset = 'crawl-media'").collect()
    assert len(rows) == 1
    row = rows[0]
    assert row.license == "CC-BY" and row.media_type == "audio"
    assert row.provenance["subtitles.en"] == "Welcome to the lecture"
    assert row.provenance["license_raw"].startswith("Creative Commons Attribution")
    assert row.provenance["source_url"].endswith("talk.wav")
    assert crawled["second"]["media_fetched"] == 0       # the download archive: not fetched twice


def test_killed_crawl_resumes_without_refetching(spark, tmp_path):
    import yaml

    site = generated_site("127.0.0.5", 30, seed=5, robots="User-agent: *\nAllow: /\n").start()
    try:
        seeds = tmp_path / "seeds.txt"
        seeds.write_text("".join(site.url(f"/p/{i}") + "\n" for i in range(30)))
        crawl = {**CRAWL, "seeds": [str(seeds)], "delay_floor_s": 0.15, "flush_every": 3, "max_depth": 0}
        profile = tmp_path / "crawl.yaml"
        profile.write_text(yaml.safe_dump({"crawl": crawl}))
        cmd = [sys.executable, "-m", "jobs.cli", "crawl", "--profile", str(profile), "--lake", str(tmp_path / "lake")]
        cmd += [x for o in TEST_OVERRIDES for x in ("--set", o)]
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        t0 = time.monotonic()
        while sum(1 for _, p in site.log if p.startswith("/p/")) < 14:
            assert proc.poll() is None and time.monotonic() - t0 < 240
            time.sleep(0.05)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.monotonic() + 30        # the whole group gone (its workers may still be publishing)
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        logs = sorted((tmp_path / "lake" / "crawl" / "crawl" / "log").rglob("*.jsonl"))   # log/<run>/r<round>/
        assert logs                                      # segments of 3 URLs published before the kill
        committed = {line.split('"url": "')[1].split('"')[0] for f in logs for line in f.read_text().splitlines()}
        before = {p: site.hits(p) for p in site.routes}
        cfg = updated(conftest.test_config(tmp_path / "lake"), {"crawl": crawl})
        lake = Lake(spark, cfg["lake"]["root"])
        resumed = run_crawl(spark, lake, cfg)
        assert resumed["recovered_segments"] == len(logs)
        for url in committed:                            # what a published log records is not fetched again
            path = url.split(site.host, 1)[1]
            assert site.hits(path) == before[path] == 1
        f = lake.read("ops.frontier").collect()
        assert len(f) == 30 and {r.status for r in f} == {"fetched"}
        assert resumed["rows_in"] == 30 - len(committed)
        from pipelines.ingest.warc import read_record

        for r in f:                                      # each frontier row points at its own response
            with open(r.warc_uri.removeprefix("file:"), "rb") as fh:
                assert f"<h1>Page {r.url.rsplit('/', 1)[1]} of" in read_record(fh, r.warc_offset).decode()
    finally:
        site.stop()
