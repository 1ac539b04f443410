"""robots.txt per host, parsed with protego, fetched by RFC 9309's rules.

- 2xx: the rules (protego: wildcards, `$`, the longest match wins, Allow beats Disallow at
  equal length, Crawl-delay and Request-rate).
- 4xx (except 429): no rules, everything may be fetched (RFC 9309 2.3.1.3).
- 5xx, 429, or unreachable (timeout, connection refused, DNS): everything is disallowed
  for now (2.3.1.4); the host's URLs wait for the next attempt, they are not rejected.
- Redirects are followed up to 5 hops (2.3.1.2); more is "unreachable".
- Only the first `max_bytes` (500 KiB, the RFC's minimum) are parsed.
The product token matched is the configured `robots_agent`, falling back to `*`.
"""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

import httpx
from protego import Protego

MAX_REDIRECTS = 5


@dataclass
class Robots:
    state: str                       # rules | allow_all | unavailable
    detail: str = ""
    rules: Protego | None = None
    agent: str = "*"
    http_status: int | None = None

    def allowed(self, url: str) -> bool:
        if self.state == "allow_all":
            return True
        if self.state == "unavailable":
            return False
        return bool(self.rules.can_fetch(url, self.agent))

    def delay(self) -> float | None:
        """Seconds between requests the file asks for: Crawl-delay, or Request-rate's
        seconds/requests, whichever is longer."""
        if self.rules is None:
            return None
        d = self.rules.crawl_delay(self.agent)
        rate = self.rules.request_rate(self.agent)
        per = rate.seconds / rate.requests if rate and rate.requests else None
        vals = [float(v) for v in (d, per) if v is not None]
        return max(vals) if vals else None


def fetch_robots(client: httpx.Client, url: str, agent: str, max_bytes: int) -> Robots:
    """The robots.txt at `url` (a /robots.txt URL), never raising."""
    target = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            with client.stream("GET", target, follow_redirects=False) as r:
                if r.is_redirect and r.headers.get("location"):
                    target = urljoin(target, r.headers["location"])
                    continue
                code = r.status_code
                if code == 429 or code >= 500:
                    return Robots("unavailable", f"robots.txt HTTP {code}", http_status=code)
                if code >= 400:
                    return Robots("allow_all", f"robots.txt HTTP {code}", http_status=code)
                if code >= 300:
                    return Robots("unavailable", f"robots.txt HTTP {code} without Location", http_status=code)
                body = bytearray()
                for chunk in r.iter_bytes():
                    body += chunk
                    if len(body) >= max_bytes:
                        break
        except httpx.HTTPError as e:
            return Robots("unavailable", f"robots.txt unreachable: {type(e).__name__}: {e}"[:300])
        text = bytes(body[:max_bytes]).decode("utf-8", "replace")
        return Robots("rules", f"robots.txt {len(body)} bytes", Protego.parse(text), agent, code)
    return Robots("unavailable", f"robots.txt: more than {MAX_REDIRECTS} redirects")
