"""One host's pacing, as Heritrix, Nutch and Scrapy's AutoThrottle do it.

At most `in_flight` requests to the host at once, and request starts at least `delay` apart,
where delay = max(robots Crawl-delay, factor x the last response time, floor). With one
request in flight (the default) the delay also runs from the end of the previous response,
as Heritrix waits after a fetch: a request that reached the host late cannot bring the next
one closer to it than the delay. A 429 or 503
pauses the whole host for its Retry-After (seconds or an HTTP date), or an exponential
back-off when it gives none; a pause longer than the run will wait defers the host's
remaining URLs to a later run instead of holding a task.
"""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Retry-After as seconds from now (delta-seconds or an HTTP-date); None if absent/bad."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = parsedate_to_datetime(v)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    base = datetime.fromtimestamp(now, UTC) if now is not None else datetime.now(UTC)
    return max(0.0, (when - base).total_seconds())


class HostLimiter:
    def __init__(self, floor_s: float, factor: float, robots_delay_s: float | None, max_delay_s: float,
                 in_flight: int = 1, clock=time.monotonic, sleep=time.sleep):
        self.floor, self.factor, self.max_delay = floor_s, factor, max_delay_s
        self.robots_delay = min(robots_delay_s, max_delay_s) if robots_delay_s else 0.0
        self.delay = max(self.floor, self.robots_delay)
        self.in_flight = max(1, in_flight)
        self._slots = threading.Semaphore(self.in_flight)
        self._lock = threading.Lock()
        self._next_start = 0.0
        self._clock, self._sleep = clock, sleep
        self.starts: list[float] = []        # request start times (the benchmark's gaps)

    def acquire(self) -> float:
        """Block until a request may start; returns its start time."""
        self._slots.acquire()
        with self._lock:
            now = self._clock()
            start = max(now, self._next_start)
            self._next_start = start + self.delay
        if start > now:
            self._sleep(start - now)
        self.starts.append(start)
        return start

    def obey(self, robots_delay_s: float | None) -> None:
        """The delay robots.txt asks for (known once it is fetched), capped at max_delay_s."""
        with self._lock:
            self.robots_delay = min(robots_delay_s, self.max_delay) if robots_delay_s else 0.0
            self.delay = max(self.delay, self.robots_delay)
            self._next_start = max(self._next_start, (self.starts[-1] if self.starts else 0.0) + self.delay)

    def release(self, response_s: float | None) -> None:
        """A request finished after `response_s` seconds (None: it failed before a response)."""
        with self._lock:
            if response_s is not None:
                self.delay = min(self.max_delay, max(self.floor, self.robots_delay, self.factor * response_s))
            if self.in_flight == 1:
                self._next_start = max(self._next_start, self._clock() + self.delay)
        self._slots.release()

    def pause(self, seconds: float) -> None:
        """No request starts for `seconds` (a 429/503 and its Retry-After)."""
        with self._lock:
            self._next_start = max(self._next_start, self._clock() + seconds)

    def wait_s(self) -> float:
        """How long until the next request could start."""
        with self._lock:
            after_last = self.starts[-1] + self.delay if self.starts else 0.0
            return max(0.0, max(self._next_start, after_last) - self._clock())


def backoff_s(attempts: int, base_s: float, max_s: float) -> float:
    """Exponential back-off before retry number `attempts` (1, 2, ...)."""
    return min(max_s, base_s * (2 ** max(0, attempts - 1)))
