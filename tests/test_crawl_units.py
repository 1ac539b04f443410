"""The crawler's parts without Spark, against HTTP servers on loopback (corpora/sites.py):
URL normalization, robots.txt by RFC 9309, pacing, one host's queue into WARC, licence and
robots signals, yt-dlp licence mapping and acquisition from file:// media."""
from __future__ import annotations

import json
import os
import time
import wave

import httpx
import pytest
from fastwarc.warc import ArchiveIterator

from corpora.sites import Route, Site, generated_site, page
from pipelines.crawl.fetch import HostCrawl, published, segment_prefix
from pipelines.crawl.media import acquire, spdx_license, vtt_text
from pipelines.crawl.politeness import HostLimiter, retry_after_s
from pipelines.crawl.robots import fetch_robots
from pipelines.crawl.segments import SegmentWriter
from pipelines.crawl.urls import BadURL, host_key, links, normalize
from pipelines.ingest.decode import license_from_html, robots_meta
from pipelines.ingest.warc import read_record
from schemas.config import CrawlConfig

AGENT = "lakehouse-crawler"


@pytest.fixture
def site():
    s = Site("127.0.0.2").start()
    yield s
    s.stop()


def crawl_cfg(**kw) -> dict:
    return CrawlConfig(**{"trust_env": False, "delay_floor_s": 0.02, "timeout_s": 1.0, "connect_timeout_s": 1.0,
                          "backoff_s": 1.0, **kw}).model_dump()


def test_normalize_is_one_key_per_page():
    same = ["HTTP://Example.COM:80/a/../b/./c?b=2&a=1#frag", "http://example.com/b/c?a=1&b=2&utm_source=news",
            "http://example.com/b/c?fbclid=123&b=2&a=1"]
    assert {normalize(u) for u in same} == {"http://example.com/b/c?a=1&b=2"}
    assert normalize("https://example.com") == "https://example.com/"
    assert normalize("http://127.0.0.2:8080/x?q=%7e") == "http://127.0.0.2:8080/x?q=~"
    assert host_key("http://127.0.0.2:8080/x") == "127.0.0.2:8080"
    for bad in ("ftp://example.com/x", "mailto:a@b.c", "not a url", "", "javascript:alert(1)"):
        with pytest.raises(BadURL):
            normalize(bad)


def test_links_resolve_base_skip_nofollow_and_repeat():
    html = ('<html><head><base href="http://h.test/docs/"></head><body><a href="a.html">a</a>'
            '<a href="../b?utm_campaign=x">b</a><a href="a.html#top">again</a><a rel="nofollow" href="/c">c</a>'
            '<a href="mailto:x@y.z">m</a><a href="https://other.test/">o</a></body></html>')
    assert links(html, "http://ignored.test/") == ["http://h.test/docs/a.html", "http://h.test/b",
                                                    "https://other.test/"]


def test_robots_rules_wildcards_allow_and_delay(site):
    site.robots = ("User-agent: *\nDisallow: /*.pdf$\nDisallow: /private/\nAllow: /private/open\n"
                   "Crawl-delay: 2\n\nUser-agent: otherbot\nDisallow: /\n")
    with httpx.Client(trust_env=False) as c:
        r = fetch_robots(c, site.url("/robots.txt"), AGENT, 500 << 10)
    assert r.state == "rules"
    assert not r.allowed(site.url("/report.pdf")) and r.allowed(site.url("/report.pdf?page=2"))
    assert not r.allowed(site.url("/private/x")) and r.allowed(site.url("/private/open/y"))
    assert r.allowed(site.url("/anything")) and r.delay() == 2.0
    site.robots = "User-agent: *\nRequest-rate: 1/5\n"
    with httpx.Client(trust_env=False) as c:
        assert fetch_robots(c, site.url("/robots.txt"), AGENT, 500 << 10).delay() == 5.0


@pytest.mark.parametrize("status, state", [(404, "allow_all"), (403, "allow_all"), (500, "unavailable"),
                                           (503, "unavailable"), (429, "unavailable")])
def test_robots_status_rules_of_rfc9309(site, status, state):
    site.routes["/robots.txt"] = Route(status, b"User-agent: *\nDisallow: /\n", {"Content-Type": "text/plain"})
    with httpx.Client(trust_env=False) as c:
        r = fetch_robots(c, site.url("/robots.txt"), AGENT, 500 << 10)
    assert r.state == state and r.allowed(site.url("/x")) == (state == "allow_all")


def test_robots_redirects_size_cap_and_unreachable(site):
    for i in range(7):
        site.routes["/robots.txt" if i == 0 else f"/r{i}"] = Route(301, b"", {"Location": f"/r{i + 1}"})
    with httpx.Client(trust_env=False) as c:
        assert fetch_robots(c, site.url("/robots.txt"), AGENT, 500 << 10).state == "unavailable"   # > 5 hops
        site.routes["/r3"] = Route(200, b"User-agent: *\nDisallow: /no\n", {"Content-Type": "text/plain"})
        r = fetch_robots(c, site.url("/robots.txt"), AGENT, 500 << 10)
        assert r.state == "rules" and not r.allowed(site.url("/no"))
        site.routes["/r3"] = Route(200, b"User-agent: *\n" + b"# pad\n" * 200 + b"Disallow: /late\n",
                                   {"Content-Type": "text/plain"})
        assert fetch_robots(c, site.url("/robots.txt"), AGENT, 256).allowed(site.url("/late"))   # past the cap
        dead = fetch_robots(c, "http://127.0.0.9:9/robots.txt", AGENT, 500 << 10)
    assert dead.state == "unavailable" and "unreachable" in dead.detail


def test_retry_after_and_limiter_pacing():
    assert retry_after_s("120") == 120.0 and retry_after_s(None) is None and retry_after_s("soon") is None
    assert retry_after_s("Wed, 02 Dec 2026 06:00:30 GMT", now=1796191200.0) == 30.0
    clock = [0.0]
    advance = lambda s: clock.__setitem__(0, clock[0] + s)   # noqa: E731
    lim = HostLimiter(floor_s=1.0, factor=2.0, robots_delay_s=None, max_delay_s=10, clock=lambda: clock[0],
                      sleep=advance)
    lim.acquire()                    # t=0
    advance(0.1)
    lim.release(0.1)                 # fast host: the floor, from the response's end -> 1.1
    lim.acquire()
    advance(3.0)
    lim.release(3.0)                 # slow response: 2 x 3 s after it ended (4.1) -> 10.1
    lim.acquire()
    lim.obey(4.0)                    # robots Crawl-delay 4 < the adaptive 6: 6 from the start -> 16.1
    advance(0.1)
    lim.release(0.1)
    lim.acquire()
    lim.pause(30)                    # a 429's Retry-After
    lim.release(0.1)
    assert lim.wait_s() == pytest.approx(30)
    lim.acquire()
    gaps = [round(b - a, 6) for a, b in zip(lim.starts, lim.starts[1:])]
    assert gaps == [1.1, 9.0, 6.0, 30.0]


def _writer(tmp_path, flush_every=100):
    return SegmentWriter(str(tmp_path / "warc"), str(tmp_path / "log"), segment_prefix("run-1", "h"),
                         {"software": "test"}, 1 << 30, flush_every)


def test_host_queue_paced_in_warc_and_logged(tmp_path):
    site = generated_site("127.0.0.3", 6, robots="User-agent: *\nDisallow: /p/5\nCrawl-delay: 0.25\n").start()
    try:
        rows = [{"url": site.url(f"/p/{i}"), "dataset": "d", "depth": 0, "attempts": 0} for i in range(6)]
        w = _writer(tmp_path, flush_every=4)
        outs = HostCrawl(site.host, rows, crawl_cfg(), w, "run-1").run()
        w.close()
    finally:
        site.stop()
    by = {o["url"]: o for o in outs}
    assert by[site.url("/p/5")]["reason"] == "robots_disallowed" and site.hits("/p/5") == 0
    fetched = [o for o in outs if o["status"] == "fetched"]
    assert len(fetched) == 5
    arrivals = [t for t, p in site.log if p.startswith("/p/")]
    assert min(b - a for a, b in zip(arrivals, arrivals[1:])) >= 0.25 - 0.01   # Crawl-delay, as the host saw it
    assert site.max_in_flight == 1
    assert len(w.published) == 2     # 6 URLs, a segment every 4
    done, seq, logs = published(str(tmp_path / "log"), segment_prefix("run-1", "h"), None)
    assert done == set(by) and seq == 2 and logs == w.published
    for o in fetched:                # each response is where the log says, with its body and digests
        with open(o["warc_uri"].removeprefix("file:"), "rb") as fh:
            body = read_record(fh, o["warc_offset"])
        assert b"<h1>Page " in body and len(body) == o["content_length"]
    with open(fetched[0]["warc_uri"].removeprefix("file:"), "rb") as fh:
        recs = [(r.headers.get("WARC-Type"), r.verify_block_digest()) for r in ArchiveIterator(fh, parse_http=False)]
    assert [t for t, _ in recs][:3] == ["warcinfo", "response", "request"]
    assert all(ok for _, ok in recs)
    lic = {o["url"].rsplit("/", 1)[1]: o["license"] for o in fetched}
    assert lic == {"0": "CC-BY-4.0", "1": "CC-BY-SA-4.0", "2": "CC0-1.0", "3": None, "4": "CC-BY-4.0"}


def test_failures_are_outcomes_not_errors(tmp_path, site):
    site.routes.update({
        "/ok": Route(body=page("ok", "fine text", [])),
        "/gone": Route(404, b"no"), "/err": Route(500, b"boom"),
        "/busy": Route(429, b"wait", {"Retry-After": "7", "Content-Type": "text/plain"}),
        "/slow": Route(body=b"late", delay_s=2.0), "/big": Route(body=b"x" * 5000),
        "/zip": Route(body=b"PK", headers={"Content-Type": "application/zip"}),
        "/r1": Route(302, b"", {"Location": "/r2"}), "/r2": Route(302, b"", {"Location": "/r1"}),
        "/away": Route(301, b"", {"Location": "http://127.0.0.3:1/else"}),
        "/hop": Route(301, b"", {"Location": "/ok"}),
    })
    paths = ["/gone", "/err", "/busy", "/slow", "/big", "/zip", "/r1", "/away", "/hop"]
    rows = [{"url": site.url(p), "dataset": "d", "depth": 0, "attempts": 0} for p in paths]
    w = _writer(tmp_path)
    outs = {o["url"].replace(f"http://{site.host}", ""): o
            for o in HostCrawl(site.host, rows, crawl_cfg(max_body_bytes=1000, max_host_wait_s=60), w, "r").run()}
    w.close()
    got = {p: (o["status"], o["reason"]) for p, o in outs.items()}
    assert got == {"/gone": ("rejected", "http_404"), "/err": ("pending", "http_500"),
                   "/busy": ("pending", "http_429"), "/slow": ("pending", "timeout"),
                   "/big": ("rejected", "too_large"), "/zip": ("rejected", "content_type_not_allowed"),
                   "/r1": ("rejected", "redirect_loop"), "/away": ("redirected", None), "/hop": ("fetched", None)}
    assert outs["/away"]["redirect_to"] == "http://127.0.0.3:1/else"
    assert outs["/hop"]["final_url"] == site.url("/ok")
    busy = outs["/busy"]
    assert 6 <= (time.mktime(time.strptime(busy["next_fetch_at"][:19], "%Y-%m-%dT%H:%M:%S"))
                 - time.mktime(time.strptime(busy["updated_at"][:19], "%Y-%m-%dT%H:%M:%S"))) <= 8
    # the 429 paused the host: the request after it came >= Retry-After later
    t_busy = next(t for t, p in site.log if p == "/busy")
    after = [t for t, p in site.log if t > t_busy]
    assert after and after[0] - t_busy >= 7 - 0.05
    # a retryable failure on its last attempt is a reject
    last = HostCrawl(site.host, [{"url": site.url("/err"), "dataset": "d", "depth": 0, "attempts": 2}],
                     crawl_cfg(), _writer(tmp_path / "b"), "r").run()
    assert (last[0]["status"], last[0]["reason"]) == ("rejected", "http_500")


def test_in_flight_limit_is_held(tmp_path):
    site = generated_site("127.0.0.4", 8).start()
    for r in site.routes.values():
        r.delay_s = 0.2
    try:
        rows = [{"url": site.url(f"/p/{i}"), "dataset": "d", "depth": 0, "attempts": 0} for i in range(8)]
        HostCrawl(site.host, rows, crawl_cfg(per_host_in_flight=2, delay_floor_s=0.0, delay_factor=0.0),
                  _writer(tmp_path), "r").run()
    finally:
        site.stop()
    assert site.max_in_flight == 2


def test_license_and_robots_signals_from_html():
    assert license_from_html('<link rel="license" href="https://creativecommons.org/licenses/by-sa/3.0/">') == \
        "CC-BY-SA-3.0"
    assert license_from_html('<span property="cc:license" resource="http://creativecommons.org/licenses/by/2.5/">'
                             '</span>') == "CC-BY-2.5"
    assert license_from_html('<footer><a href="//creativecommons.org/publicdomain/zero/1.0/">CC0</a></footer>') == \
        "CC0-1.0"
    assert license_from_html('<meta name="dc.rights" content="https://creativecommons.org/licenses/by-nc/4.0/">') \
        == "CC-BY-NC-4.0"
    assert license_from_html("<p>All rights reserved.</p>") is None
    assert robots_meta('<head><meta name="robots" content="noindex, NoAI"><meta content="nofollow" '
                       "name='lakehouse-crawler'></head>") == "noindex, noai, nofollow"
    assert robots_meta('<meta name="description" content="noai">') is None


@pytest.mark.parametrize("raw, spdx", [
    ("Creative Commons Attribution license (reuse allowed)", "CC-BY"), ("by-sa", "CC-BY-SA"),
    ("Attribution-ShareAlike 4.0 International", "CC-BY-SA-4.0"), ("cc-by-nc-3.0", "CC-BY-NC-3.0"),
    ("https://creativecommons.org/licenses/by/4.0/", "CC-BY-4.0"), ("CC0", "CC0-1.0"), ("Public Domain", "PDM-1.0"),
    ("Standard YouTube License", None), ("", None), (None, None), ("All rights reserved", None)])
def test_yt_dlp_licence_strings(raw, spdx):
    assert spdx_license(raw) == spdx


def test_vtt_text():
    vtt = "WEBVTT\nKind: captions\n\n1\n00:00.000 --> 00:01.000\n<c>Hello</c> world\n\n00:01.000 --> 00:02.000\n" \
          "Hello world\n\n00:02.000 --> 00:03.000\nSecond line\n"
    assert vtt_text(vtt) == "Hello world\nSecond line"


def media_items(folder) -> list[dict]:
    """Two local media items with crafted info JSON (what yt-dlp writes for a video page): one
    CC-BY with English subtitles, one stating no licence."""
    os.makedirs(folder, exist_ok=True)
    out = []
    for name, lic in (("talk", "Creative Commons Attribution license (reuse allowed)"), ("clip", None)):
        path = os.path.join(folder, f"{name}.wav")
        with wave.open(path, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(16000)
            w.writeframes(b"\x00\x10" * 16000)
        info = {"id": name, "title": name.title(), "extractor": "generic", "extractor_key": "Generic", "ext": "wav",
                "webpage_url": f"file://{path}", "url": f"file://{path}", "protocol": "file", "license": lic,
                "uploader": "Loopback University", "duration": 1.0, "_type": "video", "language": "en"}
        if lic:
            sub = os.path.join(folder, f"{name}.en.vtt")
            with open(sub, "w") as fh:
                fh.write("WEBVTT\n\n00:00.000 --> 00:01.000\nWelcome to the lecture\n")
            info["subtitles"] = {"en": [{"ext": "vtt", "url": f"file://{sub}"}]}
        with open(os.path.join(folder, f"{name}.info.json"), "w") as fh:
            json.dump(info, fh)
        out.append({"info_json": os.path.join(folder, f"{name}.info.json"), "url": None})
    return out


def test_yt_dlp_fetches_the_licensed_item_once(tmp_path):
    sources = media_items(tmp_path / "src")
    m = CrawlConfig(media={"enable_file_urls": True, "sleep_interval_s": 0, "max_sleep_interval_s": 0,
                           "sources": sources}).model_dump()["media"]
    out = {o["url"].rsplit("/", 1)[1]: o for o in
           acquire(m["sources"], m, str(tmp_path / "out"), str(tmp_path / "archive.txt"), "d", "r1")}
    assert (out["talk.wav"]["status"], out["clip.wav"]["status"]) == ("fetched", "rejected")
    assert out["clip.wav"]["reason"] == "license_absent"
    talk = out["talk.wav"]
    assert talk["license"] == "CC-BY" and os.path.exists(talk["path"])
    assert talk["provenance"]["subtitles.en"] == "Welcome to the lecture"
    assert talk["provenance"]["uploader"] == "Loopback University"
    assert os.path.exists(talk["provenance"]["info_json"])
    assert not os.path.exists(str(tmp_path / "out" / "generic" / "clip.wav"))
    again = acquire(m["sources"], m, str(tmp_path / "out"), str(tmp_path / "archive.txt"), "d", "r2")
    assert [o["url"].rsplit("/", 1)[1] for o in again] == ["clip.wav"]      # the archive: not fetched twice
    assert (tmp_path / "archive.txt").read_text().split() == ["generic", "talk"]
