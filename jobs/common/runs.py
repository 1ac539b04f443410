"""The run registry: one ops.runs row per stage run, and the ops.rejects writer.

    with StageRun(lake, "ingest", cfg, args) as run:
        ...; run.count(rows_in=..., kept=..., rejected=..., written=...)

The row is written as `running` at the start and updated to `succeeded` or `failed` at the
end, with the input/output Delta versions (of the tables the stage declares in
jobs/stages.py, plus any the job adds with `inputs()`/`outputs()`), counts, metrics,
timings, what Spark's executors did meanwhile (cores, task seconds, input and shuffle bytes:
`executor_totals`) and, on failure, the scrubbed traceback. Every Delta commit the run makes
carries its run_id as userMetadata (DESCRIBE HISTORY shows which run wrote what; `lakehouse
plan` sums the bytes). A succeeded run must satisfy
rows_in = rows_kept + rows_rejected, or it is marked failed. With `openlineage` configured,
each run also sends START and COMPLETE/FAIL events (jobs/common/lineage_events.py).
"""
from __future__ import annotations

import contextlib
import json
import logging
import re
import subprocess
import time
import traceback
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from jobs.common.config import config_hash
from jobs.common.lake import Lake

log = logging.getLogger("lakehouse")
REPO = Path(__file__).resolve().parents[2]


@lru_cache(maxsize=1)
def pipeline_version() -> str:
    try:
        return metadata.version("lakehouse-etl")
    except metadata.PackageNotFoundError:
        m = re.search(r"^version\s*=\s*(\S+)", (REPO / "setup.cfg").read_text(), re.M)
        return m.group(1) if m else "0+unknown"


@lru_cache(maxsize=1)
def code_version() -> str:
    """Package version plus the git commit (and +dirty) when running from a checkout."""
    try:
        sha = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty", "--abbrev=12"],
                             capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        sha = ""
    return f"{pipeline_version()}+g{sha}" if sha else pipeline_version()


_SECRET_PATTERNS = [
    (re.compile(r"AKIA[0-9A-Z]{16}"), "AKIA****"),
    (re.compile(r"(?i)([\w.-]*(?:secret|password|passwd|token|access[_.-]?key)[\w.-]*[\"']?\s*[=:]\s*)[^\s,;]+"),
     r"\1****"),
    (re.compile(r"(?i)(s3a?://)[^:/@\s]+:[^@\s]+@"), r"\1****@"),
]


def scrub(text: str, limit: int = 4000) -> str:
    """Mask credential-looking substrings before anything reaches logs or ops tables."""
    for pat, rep in _SECRET_PATTERNS:
        text = pat.sub(rep, text)
    return text[:limit]


_SECRET_KEY = re.compile(r"(?i)(secret|password|passwd|token|access[_.-]?key|session[_.-]?key)")


def scrub_config(obj):
    """A copy of a config with the values of credential-like keys masked (stays valid JSON)."""
    if isinstance(obj, dict):
        return {k: "****" if _SECRET_KEY.search(str(k)) and not isinstance(v, dict) else scrub_config(v)
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [scrub_config(v) for v in obj]
    return scrub(obj, 10_000) if isinstance(obj, str) else obj


def new_run_id(stage: str) -> str:
    return f"{stage}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
# ExecutorSummary fields (Spark's status store, kept with or without the UI) -> run metrics
_EXECUTOR_TOTALS = {"task_seconds": ("totalDuration", 1e-3), "gc_seconds": ("totalGCTime", 1e-3),
                    "input_bytes": ("totalInputBytes", 1), "shuffle_read_bytes": ("totalShuffleRead", 1),
                    "shuffle_write_bytes": ("totalShuffleWrite", 1)}


def executor_totals(sc) -> dict[str, float]:
    """Cumulative task time, GC time, input and shuffle bytes over all executors of the session
    (dead ones included, up to spark.ui.retainedDeadExecutors), and the cores of the live ones
    (the driver's in local mode). Empty, with a warning, where Spark's internals do not answer:
    these figures never fail a run."""
    try:
        jsc = sc._jsc.sc()
        with contextlib.suppress(Exception):   # the last tasks' metrics reach the store asynchronously
            jsc.listenerBus().waitUntilEmpty(2000)
        seq = jsc.statusStore().executorList(False)
        execs = [seq.apply(i) for i in range(seq.size())]
        out = {k: sum(getattr(e, f)() for e in execs) * scale for k, (f, scale) in _EXECUTOR_TOTALS.items()}
        workers = [e for e in execs if e.isActive() and e.id() != "driver"]
        out["cores"] = sum(e.totalCores() for e in workers or [e for e in execs if e.id() == "driver"])
        return out
    except Exception as e:   # noqa: BLE001 - an internal API (py4j into the status store)
        log.warning("executor totals unavailable (%s: %s); the run records no cores or shuffle bytes",
                    type(e).__name__, str(e)[:200])
        return {}


class AccountingError(RuntimeError):
    """rows in != rows kept + rows rejected."""


class StageRun:
    def __init__(self, lake: Lake, stage: str, cfg: dict, args: dict | None = None):
        from jobs import stages
        from jobs.common.lineage_events import emitter

        self.lake, self.stage, self.cfg = lake, stage, cfg
        self.run_id = new_run_id(stage)
        self.config_hash, self.code_version = config_hash(cfg), code_version()
        self.args = json.dumps(args or {}, sort_keys=True, default=str)
        self.started_at = datetime.now(UTC)
        self._t0 = time.monotonic()
        self.input_versions: dict[str, int] = {}
        self.output_tables: list[str] = []
        self._output_versions: dict[str, int] | None = None
        self.rows_in = self.rows_kept = self.rows_rejected = self.rows_written = None
        self.rows_skipped = 0
        self.broken: list[str] = []
        self.metrics: dict[str, float] = {}
        self.declared = stages.stage(stage) if stage in stages.names() else None
        self.events = emitter(cfg, lake.root)
        self._spark_before: dict[str, float] = {}
        self._user_metadata: str | None = None

    # -- what the job reports -----------------------------------------------------------
    def inputs(self, *tables: str) -> None:
        for t in tables:
            v = self.lake.version(t)
            if v is not None:
                self.input_versions[t] = v

    def outputs(self, *tables: str) -> None:
        self.output_tables.extend(t for t in tables if t not in self.output_tables)

    def count(self, rows_in: int, kept: int, rejected: int, written: int | None = None, skipped: int = 0) -> None:
        """rows_in: counted from the input; kept and rejected: counted from what the writes left
        in the tables (Lake.insert_counted, write_rejects); skipped: input that is neither, by
        design (export: documents the mixture did not select). The run fails unless
        rows_in = kept + rejected + skipped."""
        self.rows_in, self.rows_kept, self.rows_rejected, self.rows_written = rows_in, kept, rejected, written
        self.rows_skipped = skipped
        if skipped:
            self.metric("rows_skipped", skipped)

    def expect(self, what: str, expected: int, landed: int) -> None:
        """Another count that must hold (e.g. a side table written for every input row)."""
        if expected != landed:
            self.broken.append(f"{what}: {landed} rows landed of {expected} written")

    def metric(self, name: str, value: float) -> None:
        self.metrics[name] = float(value)

    def output_versions(self) -> dict[str, int]:
        """Delta versions of the output tables at the end of the run (read once)."""
        if self._output_versions is None:
            versions = {t: self.lake.version(t) for t in self.output_tables}
            self._output_versions = {t: v for t, v in versions.items() if v is not None}
        return self._output_versions

    # -- the ops.runs row -------------------------------------------------------------------
    def _row(self, status: str, error: str | None = None) -> dict:
        finished = None if status == "running" else datetime.now(UTC)
        sc = self.lake.spark.sparkContext
        return {
            "run_id": self.run_id, "stage": self.stage, "status": status,
            "profile": self.cfg["profile"], "config_hash": self.config_hash,
            "config_json": json.dumps(scrub_config(self.cfg), sort_keys=True, default=str),
            "code_version": self.code_version, "args": scrub(self.args),
            "input_versions": self.input_versions,
            "output_versions": self.output_versions() if finished else {},
            "rows_in": self.rows_in, "rows_kept": self.rows_kept, "rows_rejected": self.rows_rejected,
            "rows_written": self.rows_written, "metrics": self.metrics,
            "started_at": self.started_at, "finished_at": finished,
            "duration_s": (time.monotonic() - self._t0) if finished else None,
            "spark_app_id": sc.applicationId, "spark_master": sc.master, "error": error,
        }

    def _write(self, status: str, error: str | None = None) -> None:
        from schemas.tables import OPS_RUNS
        df = self.lake.spark.createDataFrame([self._row(status, error)], OPS_RUNS)
        if status == "running":   # a new run_id: a blind append, about 1 s cheaper than a MERGE
            self.lake.append("ops.runs", df)
        else:
            self.lake.merge_upsert("ops.runs", df)

    def _spark_start(self) -> None:
        self._spark_before = executor_totals(self.lake.spark.sparkContext)
        self._user_metadata = self.lake.spark.conf.get(USER_METADATA, None)
        self.lake.spark.conf.set(USER_METADATA, self.run_id)

    def _spark_end(self) -> None:
        """The run's share of the executor totals as metrics (none when either end had none;
        a dead executor the store dropped can only lower a total, never below 0); the session's
        userMetadata back."""
        if self._user_metadata is None:
            self.lake.spark.conf.unset(USER_METADATA)
        else:
            self.lake.spark.conf.set(USER_METADATA, self._user_metadata)
        now = executor_totals(self.lake.spark.sparkContext)
        if not now or not self._spark_before:
            return
        self.metric("cores", now["cores"])
        for k in _EXECUTOR_TOTALS:
            self.metric(k, max(0.0, now[k] - self._spark_before[k]))

    def __enter__(self) -> StageRun:
        if self.declared:
            self.inputs(*self.declared.reads)
            self.outputs(*self.declared.writes)
        self._write("running")
        self._spark_start()
        log.info("run %s started (stage %s, config %s)", self.run_id, self.stage, self.config_hash)
        if self.events:
            self.events.emit("START", self)
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            self._spark_end()
        except Exception:   # noqa: BLE001 - the run's own outcome matters more than its figures
            log.exception("could not restore the session after run %s", self.run_id)
        if exc is None and self.rows_in is not None and (
                self.rows_in != self.rows_kept + self.rows_rejected + self.rows_skipped):
            self.broken.insert(0, f"rows_in {self.rows_in} != kept {self.rows_kept} + rejected {self.rows_rejected}"
                               + (f" + skipped {self.rows_skipped}" if self.rows_skipped else ""))
        if exc is None and self.broken:
            exc = AccountingError(f"{self.stage}: rows lost: {'; '.join(self.broken)}")
        if exc is None:
            self._write("succeeded")
            log.info("run %s succeeded: in=%s kept=%s rejected=%s written=%s", self.run_id,
                     self.rows_in, self.rows_kept, self.rows_rejected, self.rows_written)
            if self.events:
                self.events.emit("COMPLETE", self)
            return False
        msg = scrub(f"{type(exc).__name__}: {exc}", 1000)
        trace = scrub("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)), 1 << 20)[-8000:]
        try:
            self._write("failed", f"{msg}\n\n{trace}")
        except Exception:  # the original error matters more than a failed status write
            log.exception("could not record the failure of run %s", self.run_id)
        log.error("run %s failed: %s", self.run_id, msg)
        if self.events:
            self.events.emit("FAIL", self, msg, trace)
        if exc_type is None:  # the accounting check failed on an otherwise clean exit
            raise exc
        return False


class Timer:
    """`with Timer(run)("merge_seconds"): ...` records the step's wall time as a run metric
    (a step timed more than once, e.g. per crawl round, adds up)."""

    def __init__(self, run: StageRun):
        self.run = run

    def __call__(self, name: str):
        from contextlib import contextmanager

        @contextmanager
        def timed():
            t = time.monotonic()
            try:
                yield
            finally:
                self.run.metric(name, self.run.metrics.get(name, 0.0) + time.monotonic() - t)
                log.info("%s %s: %.1fs", self.run.stage, name.removesuffix("_seconds"), time.monotonic() - t)
        return timed()


def reject_rows(df: DataFrame, stage: str, run_id: str, reason, detail, ref_doc_id=None) -> DataFrame:
    """ops.rejects rows for whole documents of `df` (doc_id, source_uri, source_record, dataset);
    `reason`, `detail`, `ref_doc_id`: column names or Columns."""
    col = lambda c: F.col(c) if isinstance(c, str) else c   # noqa: E731
    return df.select(reject_id_col_of(stage, col(reason)).alias("reject_id"), "doc_id", F.lit(stage).alias("stage"),
                     col(reason).alias("reason"), col(detail).alias("detail"), "source_uri", "source_record", "dataset",
                     (col(ref_doc_id) if ref_doc_id is not None else F.lit(None).cast("string")).alias("ref_doc_id"),
                     F.lit(run_id).alias("run_id"), F.current_timestamp().alias("rejected_at"),
                     F.lit(pipeline_version()).alias("pipeline_version"))


def reject_id_col_of(stage: str, reason: F.Column) -> F.Column:
    """The reject's key: stage, the record's full source URI and position (source_record), its
    doc_id and the reason; unique across the lake (reject ids of lakes written before 0.2
    hashed stage, source_record or doc_id, and reason)."""
    parts = [F.coalesce(F.col(c), F.lit("")) for c in ("source_uri", "source_record", "doc_id")]
    return F.sha2(F.concat_ws("\x1f", F.lit(stage), *parts, reason), 256)


def write_rejects(lake: Lake, rejects: DataFrame, expected: int, stage: str) -> int:
    """MERGE `expected` reject rows of `stage` into ops.rejects (insert-only on reject_id);
    returns how many of them the table holds afterwards (Lake.insert_counted)."""
    return lake.insert_counted("ops.rejects", rejects, expected, check=False, within=F.col("stage") == stage)[1]


class ErrorBudgetExceeded(RuntimeError):
    """Too many records failed in a library rather than in their data: a broken install."""


def check_error_budget(stage: str, by_reason: dict, rows_in: int, budget: dict, reasons: tuple[str, ...]) -> None:
    """Fail the run when the error reasons (a library failing on a record, e.g. extractor_error)
    reach `budget.min_rows` records and more than `budget.share` of the input: a run that
    rejects everything because a library broke must fail, not succeed."""
    n = sum(by_reason.get(r, 0) for r in reasons)
    if n >= budget["min_rows"] and n > budget["share"] * rows_in:
        raise ErrorBudgetExceeded(
            f"{stage}: {n} of {rows_in} records ({n / rows_in:.1%}) failed with {sorted(set(by_reason) & set(reasons))}"
            f", over the error budget ({budget['share']:.0%}, {stage}.error_budget): a broken install or library? "
            "Nothing was written; the details are in the executor logs")
