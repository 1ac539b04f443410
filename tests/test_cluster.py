"""spark-submit to a real Spark standalone cluster (a master and a worker on loopback,
started from the PySpark distribution) writes what local mode writes."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from tests.conftest import CRAWL_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    raise RuntimeError(f"{text!r} not in {path} (exit {proc.poll()}):\n" + (path.read_text()[-3000:] if path.exists() else ""))


@pytest.fixture(scope="module")
def standalone(tmp_path_factory):
    """spark://127.0.0.1:<port>: one master, one worker (2 cores, 3 GiB), stopped after the tests."""
    work = tmp_path_factory.mktemp("standalone")
    home = spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    cls = str(home / "bin" / "spark-class")
    procs = []
    master_log, worker_log = work / "master.log", work / "worker.log"
    try:
        procs.append(subprocess.Popen([cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port",
                                       str(port), "--webui-port", str(free_port())], env=env,
                                      stdout=open(master_log, "w"), stderr=subprocess.STDOUT))
        wait_for(master_log, "I have been elected leader", procs[0])
        procs.append(subprocess.Popen([cls, "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory",
                                       "3g", "--webui-port", str(free_port()), "--work-dir", str(work / "worker")],
                                      env=env, stdout=open(worker_log, "w"), stderr=subprocess.STDOUT))
        wait_for(worker_log, "Successfully registered with master", procs[1])
        yield url, env
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()


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
