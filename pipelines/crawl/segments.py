"""Rotating WARC files with their outcome logs: what one host's fetches leave in the lake.

A segment is `<prefix>-<seq>.warc.gz` (warcio: a `warcinfo` record, then a `response` and
its `request` per page, each a gzip member) and `<prefix>-<seq>.jsonl`, one JSON line per
URL tried (fetched or not). Both are written locally and published atomically
(pipelines/uris.py), the WARC first: a published log is the commit of its segment, and a
segment is closed every `flush_every` URLs or at `max_file_bytes`, so a killed task loses
only its open segment.

Bodies are stored decoded: Content-Encoding and Transfer-Encoding are dropped from the
stored headers (kept as X-Crawler-Content-Encoding, as Common Crawl does) and
Content-Length is the stored body's, so every WARC reader gets the bytes the page is made of.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import tempfile
import threading
from datetime import UTC, datetime

from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from pipelines import uris

DROP_HEADERS = {"content-encoding", "transfer-encoding", "content-length"}


def stored_headers(headers: list[tuple[str, str]], body_len: int) -> list[tuple[str, str]]:
    out = [(k, v) for k, v in headers if k.lower() not in DROP_HEADERS]
    out += [(f"X-Crawler-{k}", v) for k, v in headers if k.lower() in ("content-encoding", "transfer-encoding")]
    return out + [("Content-Length", str(body_len))]


class SegmentWriter:
    def __init__(self, warc_dir: str, log_dir: str, prefix: str, info: dict, max_file_bytes: int, flush_every: int,
                 s3: dict | None = None, first_seq: int = 0):
        self.warc_dir, self.log_dir, self.prefix, self.info = warc_dir, log_dir, prefix, info
        self.max_bytes, self.flush_every, self.s3 = max_file_bytes, max(1, flush_every), s3
        self.seq = first_seq
        self._lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="lakehouse-crawl-")
        self._fh = self._writer = None
        self._records = 0
        self._log: list[dict] = []
        self.published: list[str] = []          # log URIs

    def _name(self, ext: str) -> str:
        return f"{self.prefix}-{self.seq:05d}{ext}"

    def _open(self):
        name = self._name(".warc.gz")
        self._fh = open(os.path.join(self._tmp, name), "wb")  # noqa: SIM115 (open across writes, closed in _rotate)
        self._writer = WARCWriter(self._fh, gzip=True, warc_version="1.1")
        self._writer.write_record(self._writer.create_warcinfo_record(name, self.info))

    def write(self, url: str, request_line: str, request_headers: list[tuple[str, str]], status_line: str,
              headers: list[tuple[str, str]], body: bytes, fetched_at: datetime,
              ip: str | None) -> tuple[str, int, int]:
        """Write one response + request pair; returns (WARC URI, offset, length) of the response."""
        with self._lock:
            if self._fh is None:
                self._open()
            w = self._writer
            date = fetched_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            wh = {"WARC-Date": date, **({"WARC-IP-Address": ip} if ip else {})}
            resp = w.create_warc_record(url, "response", payload=io.BytesIO(body), warc_headers_dict=wh,
                                        http_headers=StatusAndHeaders(status_line, stored_headers(headers, len(body)),
                                                                      protocol="HTTP/1.1"))
            req = w.create_warc_record(url, "request", payload=io.BytesIO(b""), warc_headers_dict={"WARC-Date": date},
                                       http_headers=StatusAndHeaders(request_line, request_headers,
                                                                     is_http_request=True))
            req.rec_headers.add_header("WARC-Concurrent-To", resp.rec_headers.get_header("WARC-Record-ID"))
            offset = self._fh.tell()
            w.write_record(resp)
            length = self._fh.tell() - offset
            w.write_record(req)
            self._records += 1
            return uris.join(self.warc_dir, self._name(".warc.gz")), offset, length

    def log(self, outcome: dict) -> None:
        """Record one URL's outcome; closes the segment when it is full."""
        with self._lock:
            self._log.append(outcome)
            full = len(self._log) >= self.flush_every or (self._fh is not None and self._fh.tell() >= self.max_bytes)
            if full:
                self._rotate()

    def _rotate(self) -> None:
        if not self._log and self._fh is None:
            return
        if self._fh is not None:
            self._fh.close()
            local = self._fh.name
            for o in self._log:          # the segment's size, on every line (ops.crawl_files)
                o["warc_bytes"] = os.path.getsize(local)
            fs, path = uris.filesystem(uris.join(self.warc_dir, self._name(".warc.gz")), self.s3)
            uris.publish(local, fs, path)
            os.unlink(local)
        log_uri = uris.join(self.log_dir, self._name(".jsonl"))
        lines = "".join(json.dumps(o, default=str, sort_keys=True) + "\n" for o in self._log)
        uris.write_bytes(log_uri, lines.encode("utf-8"), self.s3)
        self.published.append(log_uri)
        self._fh = self._writer = None
        self._records, self._log = 0, []
        self.seq += 1

    def close(self) -> None:
        with self._lock:
            self._rotate()
        with contextlib.suppress(OSError):
            os.rmdir(self._tmp)
