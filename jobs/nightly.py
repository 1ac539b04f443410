"""Nightly run: every stage in order, over only what arrived since the last successful run.

    lakehouse nightly [--profile nightly] [--only STAGE ...] [--break-lock]

The stages and their order are jobs/stages.py's PIPELINE: ingest (each `nightly.inputs`
entry; files already in ops.ingest_files are skipped), clean, dedup, pii, tokenize, export
(if `nightly.export`). A stage is skipped when the Delta versions of the tables it reads
(`Stage.reads`) are the ones its last successful run left (ops.runs input/output
versions): nothing arrived. Every stage is itself incremental, so a
stage that runs touches only new rows. The first failure stops the run (exit 1, the stage
and error printed); the next nightly finds that stage's inputs newer than its last success
and resumes there. A lock file in the lake (`_ops/nightly.lock`) refuses a second nightly
on the same lake with a clear message; a lock left by a killed run on this host is taken
over, one from another host only with --break-lock (or after `nightly.lock_stale_hours`).
"""
from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from datetime import UTC, datetime

from jobs import stages
from jobs.common.config import ConfigError
from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake

log = logging.getLogger("lakehouse")
LOCK = "_ops/nightly.lock"


class LockHeld(RuntimeError):
    """Another nightly run holds the lake's lock."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def acquire_lock(lake: Lake, stale_hours: float, force: bool = False) -> dict:
    me = {"host": socket.gethostname(), "pid": os.getpid(), "since": datetime.now(UTC).isoformat()}
    for _ in range(2):
        if lake.create_text(LOCK, json.dumps(me)):
            return me
        held = json.loads(lake.read_text(LOCK) or "{}")
        age_h = (datetime.now(UTC) - datetime.fromisoformat(held.get("since", me["since"]))).total_seconds() / 3600
        dead_here = held.get("host") == me["host"] and not _alive(int(held.get("pid", 0)))
        if force or dead_here or age_h > stale_hours:
            log.warning("nightly: taking over the lock of %s (pid %s on %s, since %s): %s", lake.root, held.get("pid"),
                        held.get("host"), held.get("since"),
                        "--break-lock" if force else "its process is gone" if dead_here
                        else f"older than {stale_hours} h")
            lake.delete_text(LOCK)
            continue
        raise LockHeld(f"another nightly run holds {lake.root}/{LOCK} (pid {held.get('pid')} on {held.get('host')}, "
                       f"since {held.get('since')}); wait for it, or pass --break-lock if that run is dead")
    raise LockHeld(f"could not take {lake.root}/{LOCK}: another run took it first")


def last_success(lake: Lake, stage: str):
    if not lake.exists("ops.runs"):
        return None
    rows = (lake.read("ops.runs").where(f"stage = '{stage}' AND status = 'succeeded'")
            .orderBy("finished_at", ascending=False).limit(1).collect())
    return rows[0] if rows else None


def pending_reason(lake: Lake, stage: stages.Stage) -> str | None:
    """Why the stage has work (None: nothing arrived since its last successful run)."""
    if not stage.reads:
        return "always (lists new files)"
    present = [t for t in stage.reads if lake.exists(t)]
    if not present:
        return None
    last = last_success(lake, stage.name)
    if last is None:
        return "never ran"
    for t in present:
        seen = (last.output_versions or {}).get(t, (last.input_versions or {}).get(t))
        now = lake.version(t)
        if seen is None or now != seen:
            return f"{t} at version {now}, last run saw {seen}"
    return None


SUMMARY_KEYS = ("run_id", "rows_in", "kept", "rejected", "written", "files")


def run_nightly(spark, lake: Lake, cfg: dict, only: list[str] | None = None, break_lock: bool = False) -> dict:
    """Run (or skip) each stage in order; stops at the first failure. Returns the per-stage outcome."""
    try:
        order = stages.order(cfg, only)
    except stages.StageError as e:
        raise ConfigError(str(e)) from None
    acquire_lock(lake, cfg["nightly"]["lock_stale_hours"], break_lock)
    report = {"stages": {}, "status": "succeeded"}
    try:
        for stage in order:
            why = pending_reason(lake, stage)
            if why is None:
                log.info("nightly: %s skipped (nothing new)", stage.name)
                report["stages"][stage.name] = {"status": "skipped"}
                continue
            log.info("nightly: %s runs (%s)", stage.name, why)
            t = time.monotonic()
            try:
                stage.require()
                summary = stage.run_fn()(spark, lake, cfg)
            except ConfigError:
                raise
            except Exception as e:  # the stage's run row already says failed; stop here
                log.error("nightly: %s failed: %s: %s", stage.name, type(e).__name__, str(e)[:500])
                report["stages"][stage.name] = {"status": "failed", "error": f"{type(e).__name__}: {str(e)[:500]}"}
                report["status"] = "failed"
                report["failed_stage"] = stage.name
                break
            report["stages"][stage.name] = {"status": "ran", "reason": why, "seconds": round(time.monotonic() - t, 1),
                                            **{k: summary[k] for k in SUMMARY_KEYS if k in summary}}
    finally:
        lake.delete_text(LOCK)
    return report


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse nightly", __doc__.split("\n\n")[0])
    ap.add_argument("--only", action="append", help="run only these stages (repeatable), still in order")
    ap.add_argument("--break-lock", action="store_true", help="take over a lock left by a dead run on another host")
    ap.set_defaults(profile="nightly")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-nightly")
    try:
        report = run_nightly(spark, lake, cfg, args.only, args.break_lock)
    except LockHeld as e:
        print(f"error: {e}", file=sys.stderr)
        return 3
    print(json.dumps(report, indent=1, default=str))
    if report["status"] != "succeeded":
        print(f"error: stage {report['failed_stage']} failed; the next nightly resumes there", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
