"""The pipeline on an s3a:// lake, against a real S3-compatible server on loopback (moto's
server mode, started here and stopped after), with credentials from the AWS environment."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import TEST_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-Key-never-logged-7f3a"


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=open(log, "w"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.2)
        env = {"AWS_ACCESS_KEY_ID": "AKIDLAKEHOUSETEST", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_REGION": "us-east-1",
               "AWS_ENDPOINT_URL": endpoint}
        yield endpoint, env
    finally:
        proc.terminate()
        proc.wait(timeout=30)


RUN = """
import json, sys
from jobs.common.config import load_config, updated
from jobs.common.lake import Lake
from jobs.common.spark import get_spark
from jobs.nightly import run_nightly
lake_root, inbox, overrides = sys.argv[1], sys.argv[2], sys.argv[3:]
cfg = load_config("sample", overrides + [f"lake.root={lake_root}", "nightly.export=false",
                                         "license.datasets.crawl.unknown=keep"])
cfg = updated(cfg, {"nightly": {"inputs": [{"dataset": "crawl", "paths": [inbox]}]}})
spark = get_spark(cfg, "s3-test")
lake = Lake(spark, cfg["lake"]["root"])
first, second = run_nightly(spark, lake, cfg), run_nightly(spark, lake, cfg)
from jobs.export import run_export
export = run_export(spark, lake, updated(cfg, {"export": {"seq_length": 128, "min_shards": 2},
                                               "mixing": {"missing": "renormalize", "budget_tokens": None}}))
out = {"first": first, "second": second, "export": export,
       "tokens": sorted(r.doc_id for r in lake.read("gold.tokens").select("doc_id").collect()),
       "counts": {t: lake.read(t).count() for t in ("bronze.documents", "silver.documents",
                                                    "silver.redacted_documents", "gold.tokens", "ops.rejects")},
       "runs_text": "\\n".join(str(r) for r in lake.read("ops.runs").collect())}
print("RESULT " + json.dumps(out, default=str))
"""


def test_pipeline_on_an_s3a_lake(s3_server, crawl):
    import boto3

    endpoint, aws = s3_server
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id=aws["AWS_ACCESS_KEY_ID"],
                      aws_secret_access_key=SECRET, region_name="us-east-1")
    s3.create_bucket(Bucket="corpus")
    for p in crawl["files"]:
        s3.upload_file(str(p), "corpus", f"inbox/{p.name}")
    env = {**os.environ, **aws}
    r = subprocess.run([sys.executable, "-c", RUN, "s3a://corpus/lake", "s3a://corpus/inbox/", *TEST_OVERRIDES],
                       cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    lines = [ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")]
    assert r.returncode == 0 and lines, r.stderr[-5000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["first"]["status"] == "succeeded" and out["first"]["stages"]["ingest"]["files"] == 2
    assert {s: o["status"] for s, o in out["second"]["stages"].items()} == {
        "ingest": "ran", "clean": "skipped", "dedup": "skipped", "pii": "skipped", "tokenize": "skipped",
        "audio": "skipped", "image": "skipped", "video": "skipped"}
    assert out["second"]["stages"]["ingest"]["files"] == 0
    # the tables are Delta tables in the bucket
    keys = keys_under(s3, "lake")
    for table in ("bronze/documents", "silver/documents", "silver/redacted_documents", "gold/tokens", "ops/runs"):
        assert f"lake/{table}/_delta_log/00000000000000000000.json" in keys, table
    # credentials: from the environment only, never in output, logs or ops.runs
    assert SECRET not in r.stdout + r.stderr and SECRET not in out["runs_text"]
    # the same inputs in local mode gave the same documents and counts
    assert out["tokens"] == crawl["snapshot"]["tokens"] and out["counts"] == crawl["snapshot"]["counts"], (out["first"], out["counts"])

    # the export: shards and manifest in the bucket, under the lake's exports folder
    export = out["export"]
    assert export["manifest"].startswith("s3a://corpus/lake/exports/export-") and export["shards"] >= 2
    prefix = export["manifest"][len("s3a://corpus/"):].rsplit("/", 1)[0]
    names = {k[len(prefix) + 1:] for k in keys_under(s3, prefix)}
    assert "manifest.json" in names and "vocab.json" in names and not any(n.endswith(".tmp") for n in names)
    assert sum(n.endswith(".bin") for n in names) == sum(n.endswith(".idx") for n in names) == export["shards"]


def keys_under(s3, prefix: str) -> list[str]:
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="corpus", Prefix=prefix + "/")
            for o in page.get("Contents", [])]


def test_the_trainer_reads_an_export_from_s3(s3_server, monkeypatch, tmp_path):
    """train.data.load_export on an s3a:// manifest stages the shards to local disk (checksums
    checked) and megatron-core's GPTDataset reads them; runs after the pipeline test above."""
    import boto3

    from train.data import build_datasets, load_export
    from train.trainer import init_distributed, shutdown

    endpoint, aws = s3_server
    for k, v in aws.items():
        monkeypatch.setenv(k, v)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    manifests = [k for k in keys_under(s3, "lake/exports") if k.endswith("/manifest.json")]
    assert len(manifests) == 1, manifests
    man = load_export(f"s3a://corpus/{manifests[0]}", cache=str(tmp_path / "cache"))
    assert man["root"].startswith(str(tmp_path / "cache")) and man["seq_length"] == 128
    init_distributed("cpu", 1)
    try:
        ds = build_datasets(man, 128, 16, seed=1, document_masks=True, cache_dir=str(tmp_path / "megatron"))
    finally:
        shutdown()
    items = [ds[i] for i in range(len(ds))]
    assert len(items) >= 16 and all(it["tokens"].shape[0] == 128 for it in items)
    assert any((it["tokens"] == man["eod"]).any() for it in items)    # documents, with their boundaries
    # a corrupted object is refused, not trained on
    key = next(k for k in keys_under(s3, manifests[0].rsplit("/", 1)[0]) if k.endswith(".bin"))
    s3.put_object(Bucket="corpus", Key=key, Body=b"\0" * 64)
    from train.data import DataError
    with pytest.raises(DataError, match="checksum"):
        load_export(f"s3a://corpus/{manifests[0]}", cache=str(tmp_path / "cache2"))
