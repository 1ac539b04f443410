"""A stage's work, read from what its source gained since the stage last succeeded.

A stage finds its work by anti-joining its source table against what it has written (its
markers: silver.text_signals for clean, silver.minhash for dedup, ...). Read whole, the
source costs a full scan every night, whatever arrived. `source_rows` reads instead the
source's change data feed (enabled on every table: schemas/tables.py) from the version the
last successful run of the same kind started from to the version this run started from
(both in ops.runs.input_versions): the rows inserted or changed since, each in its state
at this run's version. The anti-join then runs on those alone, and still runs, so rows a
killed run finished are absorbed as before. The baseline run's own commits to its source
(dedup marking silver.documents) are left out: they touch only rows it had done.

Every row pending now is among them: a row unchanged since that version was in the same
state then, and that run left every row it found pending done. The whole source (at this
run's version) is read instead where that argument does not hold:
- no earlier succeeded run of the stage with the same arguments over (a superset of) the
  datasets asked for, or a run of another kind since (`--reapply` may lift rejects: the
  markers shrink without the source changing);
- a config key the pending set depends on (e.g. `pii.require_dedup`) differs from that run's;
- a marker table lost rows since that run started (a delete: a user's, or a reapply's);
- the feed cannot be read over the range (files vacuumed, schema changed, feed off then);
- `lake.pending: scan` in the config.
The run records which (metrics `pending.<table>.from_version`, -1 for a whole read).
"""
from __future__ import annotations

import json
import logging
from datetime import timedelta

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from jobs.common.lake import Lake
from jobs.common.runs import scrub

log = logging.getLogger("lakehouse")
LOOK_BACK = 200          # ops.runs rows of the stage searched for the baseline run


def _args(text: str | None) -> dict | None:
    """A run's arguments as ops.runs stores them (scrubbed JSON); None where unreadable."""
    try:
        args = json.loads(text or "{}")
    except ValueError:
        return None
    return args if isinstance(args, dict) else None


def _datasets(args: dict) -> set[str] | None:
    d = args.get("datasets")
    return set(d) if d else None


def _config_value(config: dict, dotted: str):
    """The value at a dotted key of a config (None where an older run's config lacks it)."""
    node = config
    for part in dotted.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def baseline(lake: Lake, run, table: str, config_keys: tuple[str, ...] = ()) -> tuple[int, str, object] | None:
    """(the version of `table` the last succeeded run like `run` started from, that run's id
    and start time), or None where the whole source must be read (module docstring)."""
    if not lake.exists("ops.runs"):
        return None
    mine = _args(scrub(run.args))
    if mine is None:
        return None
    want = _datasets(mine)
    rows = (lake.read("ops.runs").where((F.col("stage") == run.stage) & (F.col("run_id") != run.run_id))
            .select("run_id", "status", "args", "input_versions", "config_json", "started_at")
            .orderBy(F.desc("started_at")).limit(LOOK_BACK).collect())
    for r in rows:
        args = _args(r["args"])
        if args is None or ({k: v for k, v in args.items() if k != "datasets"}
                            != {k: v for k, v in mine.items() if k != "datasets"}):
            log.info("%s: %s (args %s) ran since the last run like this one: %s is read whole", run.stage,
                     r["run_id"], r["args"], table)
            return None                    # a run of another kind since: it may have lifted markers
        have = _datasets(args)
        if r["status"] != "succeeded" or (have is not None and (want is None or not want <= have)):
            continue
        then = json.loads(r["config_json"] or "{}")
        changed = [k for k in config_keys if _config_value(then, k) != _config_value(run.cfg, k)]
        if changed:
            log.info("%s: %s differs from run %s: %s is read whole", run.stage, changed, r["run_id"], table)
            return None
        version = (r["input_versions"] or {}).get(table)
        return None if version is None else (version, r["run_id"], r["started_at"])
    return None


MARGIN = timedelta(minutes=10)   # clock skew between the driver and the commit timestamps
HISTORY = 1000                   # commits of a marker table looked at


def shrunk(lake: Lake, table: str, since) -> bool:
    """Whether `table` may have lost rows since `since` (a delete, a MERGE that deleted, an
    overwrite, a restore), or has too many commits since to tell."""
    if not lake.exists(table):
        return False
    hist = (DeltaTable.forPath(lake.spark, lake.path(table)).history(HISTORY)
            .select("timestamp", "operation", "operationParameters", "operationMetrics").collect())
    recent = [h for h in hist if h["timestamp"] >= since - MARGIN]
    if len(hist) == HISTORY and len(recent) == HISTORY:
        return True
    for h in recent:
        op, params, m = h["operation"], h["operationParameters"] or {}, h["operationMetrics"] or {}
        if (op in ("DELETE", "TRUNCATE", "RESTORE") or "REPLACE" in op or params.get("mode") == "Overwrite"
                or (op == "MERGE" and int(m.get("numTargetRowsDeleted", 0) or 0) > 0)):
            return True
    return False


def commits_of(lake: Lake, table: str, run_id: str, after: int, upto: int) -> list[int]:
    """Versions in (after, upto] of `table` that the run `run_id` committed (their userMetadata),
    among the last HISTORY commits (older ones are simply not skipped)."""
    hist = DeltaTable.forPath(lake.spark, lake.path(table)).history(HISTORY)
    return [r["version"] for r in hist.where((F.col("version") > after) & (F.col("version") <= upto)
                                             & (F.col("userMetadata") == run_id)).select("version").collect()]


def changed_rows(lake: Lake, table: str, after: int, upto: int, keys: tuple[str, ...],
                 skip: tuple[int, ...] = ()) -> DataFrame:
    """Rows of `table` inserted or updated in versions (after, upto] other than `skip`, one per
    key in its state at `upto` (a row deleted by then is left out), from the change data feed."""
    cols = lake.read(table, upto).columns
    feed = (lake.spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", after + 1).option("endingVersion", upto).load(lake.path(table))
            .where("_change_type <> 'update_preimage'"))
    if skip:
        feed = feed.where(~F.col("_commit_version").isin(*skip))
    last = Window.partitionBy(*keys).orderBy(F.desc("_commit_version"),
                                             F.when(F.col("_change_type") == "delete", 0).otherwise(1))
    return (feed.withColumn("_n", F.row_number().over(last)).where("_n = 1 AND _change_type <> 'delete'")
            .select(*cols))


def source_rows(lake: Lake, run, table: str, markers: tuple[str, ...], keys: tuple[str, ...] = ("doc_id",),
                config_keys: tuple[str, ...] = ()) -> DataFrame:
    """What the stage run `run` reads of its source `table` to find its work: the rows changed
    since its baseline run, or the whole table, at the version the run started from.
    `markers`: the tables the stage anti-joins (rows deleted from one since the baseline run
    make their documents pending again without the source changing: a whole read)."""
    upto = run.input_versions.get(table, lake.version(table))
    base = None if run.cfg["lake"]["pending"] == "scan" else baseline(lake, run, table, config_keys)
    if base is not None:
        lost = [m for m in markers if shrunk(lake, m, base[2])]
        if lost:
            log.info("%s: %s lost rows since run %s: %s is read whole", run.stage, lost, base[1], table)
            base = None
    after = base[0] if base and upto is not None and base[0] <= upto else None
    if after is not None:
        try:
            # the baseline run's own writes to its source (dedup's marks) are of rows it did
            own = tuple(commits_of(lake, table, base[1], after, upto)) if table in run.output_tables else ()
            rows = (lake.read(table, upto).limit(0) if after == upto
                    else changed_rows(lake, table, after, upto, keys, own))
            n = rows.select(*keys).count()   # reads the feed now: a range that cannot be read fails here
            log.info("%s: %d rows of %s changed in versions %d..%d", run.stage, n, table, after + 1, upto)
            run.metric(f"pending.{table}.from_version", after + 1)
            run.metric(f"pending.{table}.changed_rows", n)
            return rows
        except Exception as e:   # noqa: BLE001 - Delta raises several kinds for an unreadable range
            log.warning("%s: the change feed of %s from version %d cannot be read (%s: %s); reading the whole "
                        "table", run.stage, table, after + 1, type(e).__name__, str(e)[:300])
    run.metric(f"pending.{table}.from_version", -1)
    return lake.read(table, upto)
