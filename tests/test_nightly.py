"""lakehouse nightly: only new input, skips, a killed run resumed, the lock."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from corpora.sample import generate_warcs
from jobs.common.config import updated
from jobs.nightly import LOCK, LockHeld, run_nightly
from tests.conftest import FINGERPRINTED, TEST_OVERRIDES, nightly_cfg

ROOT = Path(__file__).resolve().parents[1]


def assert_accounted(lake):
    """Nothing lost, nothing twice: every stage's rows in = rows kept + rows rejected, by table."""
    rej = {r.stage: r["count"] for r in lake.read("ops.rejects").groupBy("stage").count().collect()}
    bronze, silver = lake.read("bronze.documents"), lake.read("silver.documents")
    assert bronze.count() == bronze.select("doc_id").distinct().count()
    assert bronze.count() == silver.count() + rej.get("clean", 0)
    assert silver.count() == silver.where("dup_keep").count() + rej.get("dedup", 0)
    red = lake.read("silver.redacted_documents")
    assert silver.where("dup_keep").count() == red.count() + rej.get("pii", 0)
    gold = lake.read("gold.tokens")
    assert gold.count() == gold.select("doc_id").distinct().count() == red.count() - rej.get("tokenize", 0)


def test_second_nightly_processes_only_new_input(crawl):
    lake, cfg, first, inbox = crawl["lake"], crawl["cfg"], crawl["report"], crawl["inbox"]
    assert first["status"] == "succeeded"
    assert [s for s, o in first["stages"].items() if o["status"] == "ran"] == ["ingest", "clean", "dedup", "pii",
                                                                               "tokenize"]
    assert first["stages"]["ingest"]["files"] == 2
    bronze_before = lake.read("bronze.documents").count()
    generate_warcs(inbox, 20, n_files=1, seed=2, start=1000)        # a new file arrives
    second = run_nightly(lake.spark, lake, cfg)
    st = second["stages"]
    assert second["status"] == "succeeded" and st["ingest"]["files"] == 1
    new = lake.read("bronze.documents").count() - bronze_before
    assert new == 20 and st["clean"]["rows_in"] == new              # only the new documents went through
    assert st["tokenize"]["rows_in"] <= new
    third = run_nightly(lake.spark, lake, cfg)                        # nothing arrived
    assert {s: o["status"] for s, o in third["stages"].items()} == {
        "ingest": "ran", "clean": "skipped", "dedup": "skipped", "pii": "skipped", "tokenize": "skipped",
        "audio": "skipped", "image": "skipped", "video": "skipped"}
    assert_accounted(lake)
    assert lake.read_text(LOCK) is None                              # released


def test_lock_refuses_a_second_nightly(lake_at, tmp_path):
    lake, cfg = lake_at(tmp_path / "lake")
    lake.create_text(LOCK, json.dumps({"host": socket.gethostname(), "pid": os.getpid(), "since": "2026-11-22T01:00:00+00:00"}))
    cfg = updated(nightly_cfg(cfg, tmp_path), {"nightly": {"lock_stale_hours": 10 ** 6}})
    with pytest.raises(LockHeld, match="another nightly run holds .*--break-lock"):
        run_nightly(lake.spark, lake, cfg)
    lake.delete_text(LOCK)
    # a lock left by a process that is gone (same host) is taken over
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    lake.create_text(LOCK, json.dumps({"host": socket.gethostname(), "pid": dead.pid, "since": "2026-11-22T01:00:00+00:00"}))
    report = run_nightly(lake.spark, lake, updated(cfg, {"nightly": {"inputs": [
        {"dataset": "none", "paths": [str(tmp_path / "empty")]}]}}), only=["clean"])
    assert report["status"] == "succeeded"


def test_killed_nightly_is_completed_by_the_next(crawl, lake_at, tmp_path):
    """A nightly of the crawl's two files killed (SIGKILL) in the middle of dedup; the next one
    finishes the job: every table's content equals that of the crawl's uninterrupted nightly."""
    lake, cfg = lake_at(tmp_path / "lake")
    cfg = updated(nightly_cfg(cfg, crawl["inbox"]), {"nightly": {"inputs": [
        {"dataset": "crawl", "paths": [str(f) for f in crawl["files"]]}]}})
    profile = tmp_path / "nightly-test.yaml"
    import yaml

    profile.write_text(yaml.safe_dump({k: cfg[k] for k in ("nightly", "license")}))
    cmd = [sys.executable, "-m", "jobs.cli", "nightly", "--profile", str(profile), "--lake", str(tmp_path / "lake")]
    cmd += [a for o in TEST_OVERRIDES for a in ("--set", o)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
                            start_new_session=True)
    seen, t0 = [], time.monotonic()
    for line in proc.stderr:
        seen.append(line)
        if "run dedup-" in line and "started" in line:               # its ops.runs row says running
            os.killpg(proc.pid, signal.SIGKILL)
            break
        assert time.monotonic() - t0 < 300, "".join(seen[-20:])
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "".join(seen[-30:])
    lake.activate()
    assert lake.read("ops.runs").where("status = 'running'").count() >= 1     # the killed run's row
    report = run_nightly(lake.spark, lake, cfg)
    assert report["status"] == "succeeded", report
    ran = [s for s, o in report["stages"].items() if o["status"] == "ran"]
    assert ran[:1] == ["ingest"] and "dedup" in ran and "tokenize" in ran and "clean" not in ran
    assert report["stages"]["ingest"]["files"] == 0                  # the files were already in
    assert_accounted(lake)
    assert lake.read("gold.tokens").count() > 0
    assert lake.read("ops.runs").where(F.col("stage") == "dedup").where("status = 'succeeded'").count() == 1
    assert {t: lake.fingerprint(t) for t in FINGERPRINTED} == crawl["snapshot"]["fingerprints"]


def test_cron_runs_the_nightly():
    cron = [ln for ln in (ROOT / "infra/schedule/lakehouse.cron").read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(cron) == 1 and "lakehouse nightly --profile nightly" in cron[0] and len(cron[0].split()) > 5


def test_a_nightly_reads_only_the_changes_and_ends_as_one_full_run(lake_at, tmp_path, caplog):
    """Two nightlies (two WARC files, then a third) whose stages read only their source's
    change feed leave the same tables as one nightly over all three files reading whole
    sources: same rows kept, same clusters (keep_by fetch_time: the new pages are later),
    same rejects. After a --reapply run the next run reads its source whole; so does one
    whose range the change feed did not record; in both, nothing is done twice."""
    import logging

    from jobs.clean import run_clean, run_reapply

    inbox = tmp_path / "inbox"
    first = generate_warcs(inbox, 24, n_files=2, seed=5)
    later = generate_warcs(inbox, 12, n_files=1, seed=6, start=500)

    def nightly(name, files, pending):
        lake, cfg = lake_at(tmp_path / name)
        cfg = updated(nightly_cfg(cfg, inbox), {"lake": {"pending": pending}, "dedup": {"keep_by": ["fetch_time"]},
                                                "nightly": {"inputs": [{"dataset": "crawl",
                                                                        "paths": [str(f) for f in files]}]}})
        report = run_nightly(lake.spark, lake, cfg)
        assert report["status"] == "succeeded", report
        return lake, cfg, report

    lake, _, _ = nightly("incremental", first, "changes")
    bronze_before = lake.read("bronze.documents").count()
    lake, cfg, second = nightly("incremental", first + later, "changes")
    new = lake.read("bronze.documents").count() - bronze_before
    assert new == 12 and second["stages"]["clean"]["rows_in"] == new
    runs = {r.stage: r.metrics for r in lake.read("ops.runs").where("status = 'succeeded'")
            .orderBy("started_at").collect()}               # the last run of each stage
    for stage, table in (("clean", "bronze.documents"), ("dedup", "silver.documents"),
                         ("pii", "silver.documents"), ("tokenize", "silver.redacted_documents")):
        assert runs[stage][f"pending.{table}.from_version"] > 0, stage         # the feed, not the table
        assert runs[stage][f"pending.{table}.changed_rows"] < lake.read(table).count(), stage
    assert_accounted(lake)
    incremental = {t: lake.fingerprint(t) for t in FINGERPRINTED}
    full, _, report = nightly("full", first + later, "scan")
    assert report["stages"]["clean"]["rows_in"] == full.read("bronze.documents").count()
    assert {t: full.fingerprint(t) for t in FINGERPRINTED} == incremental

    lake.activate()
    def from_version(summary):
        row = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
        return row.metrics["pending.bronze.documents.from_version"]

    assert from_version(run_clean(lake.spark, lake, cfg)) > 0          # nothing new: an empty range
    run_reapply(lake.spark, lake, cfg)
    after_reapply = run_clean(lake.spark, lake, cfg)
    assert after_reapply["rows_in"] == 0 and from_version(after_reapply) == -1
    assert from_version(run_clean(lake.spark, lake, cfg)) > 0
    path = lake.path("bronze.documents")
    lake.spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableChangeDataFeed = false)")
    lake.spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableChangeDataFeed = true)")
    with caplog.at_level(logging.WARNING, logger="lakehouse"):
        unrecorded = run_clean(lake.spark, lake, cfg)
    assert unrecorded["rows_in"] == 0 and from_version(unrecorded) == -1
    assert "cannot be read" in caplog.text
