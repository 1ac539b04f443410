"""spark-submit to a real Spark standalone cluster (a master and a worker on loopback,
started from the PySpark distribution) writes what local mode writes."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from infra.standalone import spark_home
from infra.standalone import standalone as cluster
from tests.conftest import CRAWL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """spark://127.0.0.1:<port>: one master, one worker (2 cores, 3 GiB), stopped after the tests."""
    with cluster(tmp_path_factory.mktemp("standalone"), workers=1, cores=2, memory="3g") as (url, env):
        yield url, env


def submit(env: dict, url: str, stage: str, *args: str) -> str:
    """infra/submit.sh <stage> ... against the cluster; returns its output (raises on failure)."""
    env = {**env, "PATH": f"{spark_home() / 'bin'}:{env['PATH']}", "PYTHON": sys.executable,
           "PYSPARK_DRIVER_PYTHON": sys.executable,
           "SPARK_SUBMIT_ARGS": f"--master {url} --executor-memory 2g --conf spark.ui.enabled=false "
                                "--conf spark.sql.shuffle.partitions=4"}
    r = subprocess.run([str(ROOT / "infra/submit.sh"), stage, *args], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    errors = [ln for ln in (r.stdout + r.stderr).splitlines()
              if any(w in ln for w in ("Error", "error:", "Exception", "Traceback", "File \""))]
    assert r.returncode == 0, "\n".join(errors[:60]) or r.stderr[-4000:]
    return r.stdout + r.stderr


def test_submitted_stages_write_what_local_mode_writes(standalone, crawl, lake_at, tmp_path):
    """`nightly --only ingest --only clean` (the Airflow DAG's entry) submitted to the cluster
    gives the rows the local nightly of the same files gave."""
    from collections import Counter

    import yaml

    url, env = standalone
    profile = tmp_path / "crawl.yaml"
    profile.write_text(yaml.safe_dump({"license": crawl["cfg"]["license"], "nightly": {
        "inputs": [{"dataset": "crawl", "paths": [str(p) for p in crawl["files"]]}]}}))
    on_cluster = tmp_path / "lake-cluster"
    out = submit(env, url, "nightly", "--profile", str(profile), "--lake", str(on_cluster), "--only", "ingest",
                 "--only", "clean")
    assert '"files": 2' in out

    cluster, _ = lake_at(on_cluster)
    runs = cluster.read("ops.runs").select("stage", "status", "spark_master").collect()
    assert {(r.stage, r.status, r.spark_master) for r in runs} == {("ingest", "succeeded", url),
                                                                   ("clean", "succeeded", url)}
    want = crawl["snapshot"]["rows"]
    for table, cols in CRAWL_COLUMNS.items():
        got = Counter(tuple(r) for r in cluster.read(table).select(*cols).collect())
        if table == "ops.rejects":   # the local nightly ran every stage; the cluster ingest and clean
            want_t = Counter({r: n for r, n in want[table].items() if r[1] in ("ingest", "clean")})
        else:
            want_t = want[table]
        assert got == want_t and (sum(got.values()) > 0 or table == "ops.rejects"), table
    assert cluster.read("silver.documents").where(F.col("run_id").startswith("clean-")).count() > 0
