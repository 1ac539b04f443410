"""File URIs, one way everywhere: the lake root, input paths and the files executors open.

Paths without a scheme become absolute `file:` URIs; URIs with one are kept. A `file:` URI
maps back to its local path verbatim: Hadoop's Path.toString() does not percent-encode, so
`50%41off.jsonl` is the file's real name, never URL-decoded.
"""
from __future__ import annotations

import os


def to_uri(path: str) -> str:
    """`~/x`, `./x` or `file:x` -> `file:/abs/x`; `s3a://...`, `hdfs://...`, `file:///x` unchanged."""
    if "://" in path:
        return path
    return "file:" + os.path.abspath(os.path.expanduser(path.removeprefix("file:")))


def local_path(uri: str) -> str | None:
    """The local filesystem path of a file: URI (or a plain path), else None."""
    if uri.startswith("file://"):
        return uri[len("file://"):] or "/"
    if uri.startswith("file:"):
        return uri[len("file:"):]
    return uri if "://" not in uri else None
