"""Web sites on loopback for the crawl tests and benchmark: real HTTP servers (the standard
library's ThreadingHTTPServer), each bound to its own 127.0.0.x address, so several host
names exist without the internet. A site serves robots.txt, generated pages that link to
each other (with licence badges, meta robots, PII-free prose) and the failure modes a
crawler meets: 404, 500, 429 with Retry-After, slow responses (timeouts), redirect chains
and loops, oversized bodies, disallowed content types. Every request is logged with its
arrival time (time.monotonic()), which is how politeness is measured.
"""
from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

WORDS = ["river", "mountain", "village", "library", "garden", "station", "market", "harbour", "bridge", "forest",
         "school", "museum", "morning", "evening", "summer", "winter", "letter", "story", "music", "painting",
         "history", "science", "language", "travel", "family", "friend", "teacher", "student", "worker", "farmer",
         "city", "country", "road", "island", "window", "kitchen"]

LICENSES = {
    "by": '<a rel="license" href="https://creativecommons.org/licenses/by/4.0/">CC BY 4.0</a>',
    "by-sa-rdfa": '<div xmlns:cc="http://creativecommons.org/ns#"><span property="cc:license" '
                  'resource="https://creativecommons.org/licenses/by-sa/4.0/"></span></div>',
    "cc0-footer": '<footer>Dedicated to the public domain: <a href="https://creativecommons.org/publicdomain/'
                  'zero/1.0/">CC0</a></footer>',
    "none": "",
}


def prose(rng: random.Random, n_sentences: int) -> str:
    out = []
    for _ in range(n_sentences):
        words = [rng.choice(WORDS) for _ in range(rng.randint(8, 16))]
        out.append(" ".join(words).capitalize() + ".")
    return " ".join(out)


def page(title: str, body: str, links: list[str], license: str = "none", meta_robots: str | None = None) -> bytes:
    meta = f'<meta name="robots" content="{meta_robots}">' if meta_robots else ""
    anchors = "".join(f'<li><a href="{h}">{h}</a></li>' for h in links)
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title>{meta}</head>"
            f"<body><main><h1>{title}</h1><p>{body}</p></main><ul>{anchors}</ul>{LICENSES[license]}"
            f"</body></html>").encode()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=lambda: {"Content-Type": "text/html; charset=utf-8"})
    delay_s: float = 0.0          # sleep before answering (timeouts, adaptive delay)
    times: int | None = None      # answer like this only the first `times` requests, then `then`
    then: Route | None = None


class Site:
    """One HTTP server on `ip`; `routes` maps a path (with query) to a Route."""

    def __init__(self, ip: str, robots: str | None = "User-agent: *\nAllow: /\n", robots_status: int = 200):
        self.ip, self.routes, self.robots, self.robots_status = ip, {}, robots, robots_status
        self.log: list[tuple[float, str]] = []       # (monotonic arrival, path)
        self._lock = threading.Lock()
        self._hits: dict[str, int] = {}
        self._in_flight = self.max_in_flight = 0     # concurrent requests: the per-host limit as the host sees it
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                with site._lock:
                    site.log.append((time.monotonic(), self.path))
                    n = site._hits[self.path] = site._hits.get(self.path, 0) + 1
                    site._in_flight += 1
                    site.max_in_flight = max(site.max_in_flight, site._in_flight)
                try:
                    self._answer(n)
                finally:
                    with site._lock:
                        site._in_flight -= 1

            def _answer(self, n):
                if self.path == "/robots.txt" and site.robots is not None and "/robots.txt" not in site.routes:
                    r = Route(site.robots_status, site.robots.encode(), {"Content-Type": "text/plain"})
                else:
                    r = site.routes.get(self.path, Route(404, b"not found", {"Content-Type": "text/plain"}))
                while r.times is not None and n > r.times and r.then is not None:
                    n -= r.times
                    r = r.then
                if r.delay_s:
                    time.sleep(r.delay_s)
                try:
                    self.send_response(r.status)
                    for k, v in r.headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(r.body)))
                    self.end_headers()
                    self.wfile.write(r.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        class Server(ThreadingHTTPServer):
            def handle_error(self, request, client_address):   # a client that timed out and hung up
                pass

        self.server = Server((ip, 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"{self.ip}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def start(self) -> Site:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def hits(self, path: str) -> int:
        with self._lock:
            return self._hits.get(path, 0)

    def page_arrivals(self) -> list[float]:
        """Arrival times of every request (robots.txt included): what the host saw."""
        with self._lock:
            return [t for t, _ in self.log]


def generated_site(ip: str, n_pages: int, seed: int = 0, robots: str | None = None, **kw) -> Site:
    """A site of `n_pages` linked pages (/p/0 .. /p/N-1, each linking to the next three), with
    licence signals rotating over LICENSES."""
    rng = random.Random(seed)
    site = Site(ip, robots if robots is not None else "User-agent: *\nAllow: /\n", **kw)
    kinds = list(LICENSES)
    for i in range(n_pages):
        links = [f"/p/{j}" for j in range(i + 1, min(n_pages, i + 4))]
        site.routes[f"/p/{i}"] = Route(body=page(f"Page {i} of {ip}", prose(rng, 6), links, kinds[i % len(kinds)]))
    return site
