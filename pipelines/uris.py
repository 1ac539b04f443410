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


def s3_settings(conf=None) -> dict:
    """Endpoint and region for S3 clients outside the JVM: Spark's own s3a settings when given
    (`conf`: a SparkConf, so a cluster configured in spark-defaults needs no environment on its
    executors), else the AWS environment (jobs/common/spark.py s3a_conf)."""
    get = (lambda k: conf.get(k, None)) if conf is not None else (lambda k: None)
    endpoint = (get("spark.hadoop.fs.s3a.endpoint") or os.environ.get("AWS_ENDPOINT_URL_S3")
                or os.environ.get("AWS_ENDPOINT_URL"))
    if endpoint and "://" not in endpoint:
        ssl = (get("spark.hadoop.fs.s3a.connection.ssl.enabled") or "true").lower() != "false"
        endpoint = ("https://" if ssl else "http://") + endpoint
    region = (get("spark.hadoop.fs.s3a.endpoint.region") or os.environ.get("AWS_REGION")
              or os.environ.get("AWS_DEFAULT_REGION"))
    return {"endpoint": endpoint, "region": region}


def filesystem(uri: str, s3: dict | None = None):
    """(pyarrow FileSystem, path inside it) for a local path, `file:`, `s3a://` (also s3://,
    s3n://) or `hdfs://` URI: what executors and the trainer write and read shards through,
    outside the JVM. S3: endpoint (path-style) and region from `s3` (s3_settings(), resolved
    on the driver) or the AWS environment; credentials from the default chain (environment,
    instance profile)."""
    import pyarrow.fs as pafs

    if uri.startswith(("s3a://", "s3://", "s3n://")):
        opts = s3 or s3_settings()
        kw = {}
        if opts.get("endpoint"):
            scheme, _, host = opts["endpoint"].partition("://")
            kw = {"endpoint_override": host, "scheme": scheme or "https"}
        if opts.get("region"):
            kw["region"] = opts["region"]
        return pafs.S3FileSystem(**kw), uri.split("://", 1)[1]
    if uri.startswith("hdfs://"):
        return pafs.FileSystem.from_uri(uri)
    path = local_path(uri)
    if path is None:
        raise ValueError(f"{uri}: no file system for this scheme (local paths, file:, s3a://, hdfs://)")
    return pafs.LocalFileSystem(), os.path.abspath(path)


def is_object_store(fs) -> bool:
    import pyarrow.fs as pafs

    return isinstance(fs, pafs.S3FileSystem)


def publish(local: str, fs, path: str) -> None:
    """Put a finished local file at `path`, complete or not at all: an object store gets it
    in one upload (visible only once complete), a file system under a temporary name unique
    to this call, then renamed."""
    import uuid

    import pyarrow.fs as pafs

    parent = path.rsplit("/", 1)[0]
    if not is_object_store(fs):
        fs.create_dir(parent, recursive=True)
    target = path if is_object_store(fs) else f"{path}.{uuid.uuid4().hex[:12]}.tmp"
    pafs.copy_files(local, target, source_filesystem=pafs.LocalFileSystem(), destination_filesystem=fs)
    if target != path:
        fs.move(target, path)


def exists(uri: str, s3: dict | None = None) -> bool:
    import pyarrow.fs as pafs

    fs, path = filesystem(uri, s3)
    return fs.get_file_info(path).type != pafs.FileType.NotFound


def list_files(uri: str, s3: dict | None = None, suffix: str = "", recursive: bool = False,
               dirs: bool = False) -> list[str]:
    """Sorted URIs of the files (or, with `dirs`, the folders) under the folder `uri` whose
    names end with `suffix`; [] when it does not exist."""
    import pyarrow.fs as pafs

    fs, path = filesystem(uri, s3)
    want = pafs.FileType.Directory if dirs else pafs.FileType.File
    infos = fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=recursive))
    base = path.rstrip("/") + "/"
    return sorted(join(uri, i.path[len(base):] if i.path.startswith(base) else i.path.rsplit("/", 1)[-1])
                  for i in infos if i.type == want and i.path.endswith(suffix))


def write_bytes(uri: str, data: bytes, s3: dict | None = None) -> None:
    """Write a small file (a manifest) at a URI, atomically as publish() does."""
    import tempfile

    fs, path = filesystem(uri, s3)
    with tempfile.NamedTemporaryFile() as f:
        f.write(data)
        f.flush()
        publish(f.name, fs, path)


def read_bytes(uri: str, s3: dict | None = None) -> bytes:
    fs, path = filesystem(uri, s3)
    with fs.open_input_stream(path) as f:
        return f.read()


def join(uri: str, *parts: str) -> str:
    return "/".join([uri.rstrip("/"), *parts])
