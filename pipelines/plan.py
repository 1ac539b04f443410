"""The capacity plan: core-hours, wall time, bytes per layer and shuffle for a token pool,
from measured per-core rates.

Rates are each stage's own measurements, summed over its succeeded runs: rows in and kept,
wall seconds x cores (the cores the session had), the tokens a tokenizing stage wrote, the
shuffle bytes Spark's executors wrote, and the bytes each run's Delta commits added to every
table (commits carry the run id as their userMetadata). They come from a lake's ops.runs
(`rates_from_lake`) or from a rates file, the same figures as JSON (`lakehouse plan
--save-rates`, or a benchmark). Nothing is guessed: a modality whose chain has a stage
without rates is reported as missing, with the stages it lacks.

The model, per modality m with a target of T_m tokens (the pool's default: the user's 100T):
the chain's last stage writes `tokens / rows_kept` tokens per row it keeps, so it must keep
T_m / that rows; every stage keeps `rows_kept / rows_in` of its input (its yield), so going
back up the chain each stage reads rows_in = (what the next stage reads) / yield. A stage
costs rows_in / rate core-seconds (rate = measured rows_in / (seconds x cores)), writes
rows_in x (bytes per input row) to each table and shuffles rows_in x (shuffle bytes per input
row). Wall time on N cores is core-hours / N: linear scaling, which bench/README.md's 1 -> 2
executor figures check. A nightly is the same with every row count times the nightly share:
it assumes a night's cost follows what arrived (bench/incremental_bench.py measures how
close the stages are to that). Stages shared by several chains (ingest) add up.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

# the user's 100T pool plan (../shared ARCHITECTURE: numbers from the user's documents), tokens
POOL_PLAN_T = {"text": 94.0, "audio": 2.5, "video": 2.5, "image": 1.0}
BYTES_PER_TEXT_TOKEN = 3.8
# the stages each modality's tokens pass through, in order; the last one writes the tokens
CHAINS = {"text": ("ingest", "clean", "dedup", "pii", "tokenize"), "audio": ("ingest", "audio"),
          "image": ("ingest", "image"), "video": ("ingest", "video")}
RATES_FORMAT = 1


@dataclass
class StageRates:
    """One stage's measured totals over its runs."""
    rows_in: int
    rows_kept: int
    seconds: float                  # wall seconds, summed over the runs
    core_seconds: float             # wall seconds x the session's cores, summed
    tokens: int = 0                 # tokens written (tokenizing stages)
    shuffle_bytes: int = 0          # Spark shuffle write
    input_bytes: int = 0            # bytes Spark's tasks read
    written: dict[str, int] = field(default_factory=dict)   # table -> bytes its commits added
    runs: int = 1

    @property
    def rate(self) -> float:
        """Input rows per second per core."""
        return self.rows_in / self.core_seconds if self.core_seconds else 0.0

    @property
    def yield_(self) -> float:
        return self.rows_kept / self.rows_in if self.rows_in else 0.0


@dataclass
class Pool:
    tokens: dict[str, float] = field(default_factory=lambda: {m: t * 1e12 for m, t in POOL_PLAN_T.items()})
    cores: int = 1024
    nightly_share: float = 0.01
    bytes_per_text_token: float = BYTES_PER_TEXT_TOKEN


class PlanError(ValueError):
    """A rates file or pool that the plan cannot use."""


# -- rates in and out ------------------------------------------------------------------------
def save_rates(rates: dict[str, StageRates], source: str) -> str:
    return json.dumps({"format": RATES_FORMAT, "source": source,
                       "stages": {s: asdict(r) for s, r in sorted(rates.items())}}, indent=1, sort_keys=True)


def load_rates(text: str) -> tuple[dict[str, StageRates], str]:
    """(rates, source) from a rates file's text."""
    try:
        doc = json.loads(text)
        if doc.get("format") != RATES_FORMAT:
            raise PlanError(f"rates file format {doc.get('format')!r}, expected {RATES_FORMAT}")
        rates = {s: StageRates(**r) for s, r in doc["stages"].items()}
    except (json.JSONDecodeError, KeyError, TypeError, AttributeError) as e:
        raise PlanError(f"not a rates file ({type(e).__name__}: {e})") from e
    for s, r in rates.items():
        if r.rows_in < 0 or r.rows_kept < 0 or r.rows_kept > r.rows_in or r.core_seconds < 0:
            raise PlanError(f"rates of stage {s!r} are inconsistent: {r}")
    return rates, str(doc.get("source", ""))


def rates_from_lake(lake, history_limit: int = 2000) -> dict[str, StageRates]:
    """Each chain stage's totals over its succeeded runs in ops.runs that measured their cores
    and whose commits are still in the Delta history read (the last `history_limit` commits of
    each table they wrote, and what the log retention keeps), so rows, time and bytes come from
    the same runs; runs recorded before these fields, and reapply runs, are left out."""
    if not lake.exists("ops.runs"):
        return {}
    from pyspark.sql import functions as F

    stages = sorted({s for c in CHAINS.values() for s in c})
    runs = (lake.read("ops.runs").where((F.col("status") == "succeeded") & F.col("stage").isin(stages)
                                        & (F.col("rows_in") > 0) & F.col("metrics")["cores"].isNotNull()
                                        & F.col("metrics")["reapply.remeasured"].isNull())
            .select("run_id", "stage", "rows_in", "rows_kept", "duration_s", "metrics", "output_versions").collect())
    written = bytes_by_run(lake, {t for r in runs for t in (r["output_versions"] or {})}, history_limit)
    out: dict[str, StageRates] = {}
    for r in runs:
        if r["run_id"] not in written:
            continue
        m = r["metrics"] or {}
        tokens = int(m.get("new_tokens", 0))
        add = StageRates(rows_in=int(r["rows_in"]), rows_kept=int(r["rows_kept"] or 0), seconds=float(r["duration_s"]),
                         core_seconds=float(r["duration_s"]) * m["cores"], tokens=tokens,
                         shuffle_bytes=int(m.get("shuffle_write_bytes", 0)), input_bytes=int(m.get("input_bytes", 0)),
                         written=written[r["run_id"]])
        s = out.get(r["stage"])
        out[r["stage"]] = add if s is None else StageRates(
            rows_in=s.rows_in + add.rows_in, rows_kept=s.rows_kept + add.rows_kept, seconds=s.seconds + add.seconds,
            core_seconds=s.core_seconds + add.core_seconds, tokens=s.tokens + add.tokens,
            shuffle_bytes=s.shuffle_bytes + add.shuffle_bytes, input_bytes=s.input_bytes + add.input_bytes,
            written={t: s.written.get(t, 0) + add.written.get(t, 0) for t in {*s.written, *add.written}},
            runs=s.runs + 1)
    return out


def commit_bytes(metrics: dict) -> int:
    """Bytes a Delta commit added, from its operationMetrics (WRITE, MERGE, UPDATE/DELETE)."""
    m = metrics or {}
    return int(m.get("numOutputBytes") or m.get("numTargetBytesAdded") or m.get("numAddedBytes") or 0)


def bytes_by_run(lake, tables: set[str], limit: int) -> dict[str, dict[str, int]]:
    """run_id -> table -> bytes its commits added, over the last `limit` commits of each table."""
    from delta.tables import DeltaTable

    out: dict[str, dict[str, int]] = {}
    for t in sorted(tables):
        if not lake.exists(t):
            continue
        for h in DeltaTable.forPath(lake.spark, lake.path(t)).history(limit).select(
                "userMetadata", "operationMetrics").where("userMetadata IS NOT NULL").collect():
            per = out.setdefault(h["userMetadata"], {})
            per[t] = per.get(t, 0) + commit_bytes(h["operationMetrics"])
    return out


# -- the plan --------------------------------------------------------------------------------
def plan(rates: dict[str, StageRates], pool: Pool) -> dict:
    """Per modality: the rows each stage reads, its core-hours, shuffle and bytes per table, for
    the pool and for a nightly; or what is missing. Totals per stage and per layer."""
    if pool.cores <= 0 or not 0 < pool.nightly_share <= 1:
        raise PlanError(f"cores must be > 0 and the nightly share in (0, 1]: {pool.cores}, {pool.nightly_share}")
    modalities, stages, tables = {}, {}, {}
    for m, target in pool.tokens.items():
        chain = CHAINS.get(m)
        if chain is None:
            raise PlanError(f"unknown modality {m!r}; modalities: {sorted(CHAINS)}")
        missing = [s for s in chain if s not in rates or not rates[s].rate or not rates[s].rows_kept]
        last = rates.get(chain[-1])
        if not missing and not last.tokens:
            missing = [f"{chain[-1]} (no tokens measured)"]
        if missing:
            modalities[m] = {"tokens": target, "missing": missing}
            continue
        rows_out = target / (last.tokens / last.rows_kept)
        steps = []
        for s in reversed(chain):
            r = rates[s]
            rows_in = rows_out / r.yield_
            step = {"stage": s, "rows_in": rows_in, "rows_kept": rows_out, "rate": r.rate,
                    "core_hours": rows_in / r.rate / 3600, "shuffle_bytes": rows_in * r.shuffle_bytes / r.rows_in,
                    "input_bytes": rows_in * r.input_bytes / r.rows_in,
                    "written": {t: rows_in * b / r.rows_in for t, b in r.written.items()}}
            steps.insert(0, step)
            rows_out = rows_in
        modalities[m] = {"tokens": target, "steps": steps, "core_hours": sum(x["core_hours"] for x in steps)}
        for x in steps:
            st = stages.setdefault(x["stage"], {"rows_in": 0.0, "core_hours": 0.0, "shuffle_bytes": 0.0,
                                                "input_bytes": 0.0, "written_bytes": 0.0})
            for k in ("rows_in", "core_hours", "shuffle_bytes", "input_bytes"):
                st[k] += x[k]
            st["written_bytes"] += sum(x["written"].values())
            for t, b in x["written"].items():
                tables[t] = tables.get(t, 0.0) + b
    layers: dict[str, float] = {}
    for t, b in tables.items():
        layers[t.split(".")[0]] = layers.get(t.split(".")[0], 0.0) + b
    core_hours = sum(s["core_hours"] for s in stages.values())
    text = pool.tokens.get("text", 0.0)
    return {"pool": asdict(pool), "text_bytes": text * pool.bytes_per_text_token, "modalities": modalities,
            "stages": stages, "tables": tables, "layers": layers, "core_hours": core_hours,
            "wall_hours": core_hours / pool.cores, "shuffle_bytes": sum(s["shuffle_bytes"] for s in stages.values()),
            "nightly": {"core_hours": core_hours * pool.nightly_share,
                        "wall_hours": core_hours * pool.nightly_share / pool.cores,
                        "shuffle_bytes": sum(s["shuffle_bytes"] for s in stages.values()) * pool.nightly_share,
                        "layers": {k: v * pool.nightly_share for k, v in layers.items()}},
            "complete": all("missing" not in v for v in modalities.values())}


# -- printing --------------------------------------------------------------------------------
def human(n: float, unit: str = "") -> str:
    """1234567 -> '1.23M' (k, M, G, T, P, E); bytes with unit 'B'."""
    for p, s in ((1e18, "E"), (1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= p:
            return f"{n / p:.3g}{s}{unit}"
    return f"{n:.3g}{unit}"


def rows(result: dict) -> dict[str, list[dict]]:
    """The plan as tables of display rows: per stage, per modality, per layer."""
    share, cores = result["pool"]["nightly_share"], result["pool"]["cores"]
    per_stage = [{"stage": s, "rows in": human(v["rows_in"]), "core-hours": f"{v['core_hours']:,.0f}",
                  f"hours on {cores} cores": f"{v['core_hours'] / cores:,.1f}", "read": human(v["input_bytes"], "B"),
                  "shuffle": human(v["shuffle_bytes"], "B"), "written": human(v["written_bytes"], "B"),
                  "nightly core-hours": f"{v['core_hours'] * share:,.1f}"}
                 for s, v in result["stages"].items()]
    per_mod = []
    for m, v in result["modalities"].items():
        if "missing" in v:
            per_mod.append({"modality": m, "tokens": human(v["tokens"]), "core-hours": "missing",
                            "rows at the first stage": "", "note": "no measured rates: " + ", ".join(v["missing"])})
        else:
            per_mod.append({"modality": m, "tokens": human(v["tokens"]), "core-hours": f"{v['core_hours']:,.0f}",
                            "rows at the first stage": human(v["steps"][0]["rows_in"]), "note": ""})
    per_layer = [{"layer": k, "written": human(v, "B"), "nightly": human(v * share, "B")}
                 for k, v in sorted(result["layers"].items())]
    return {"stages": per_stage, "modalities": per_mod, "layers": per_layer}


def _text_table(items: list[dict]) -> str:
    if not items:
        return "  (none)"
    cols = list(items[0])
    w = {c: max(len(c), *(len(str(r[c])) for r in items)) for c in cols}
    line = lambda r: "  " + "  ".join(str(r[c]).ljust(w[c]) for c in cols)   # noqa: E731
    return "\n".join([line({c: c for c in cols})] + [line(r) for r in items])


def _duration(hours: float) -> str:
    return f"{hours * 60:,.1f} min" if hours < 2 else f"{hours:,.1f} h"


def format_plan(result: dict, source: str) -> str:
    p, t = result["pool"], rows(result)
    pool = ", ".join(f"{m} {human(v)}" for m, v in p["tokens"].items())
    out = [f"capacity plan for a pool of {pool} tokens (text ~{human(result['text_bytes'], 'B')} at "
           f"{p['bytes_per_text_token']} bytes/token), rates from {source}", "",
           "per modality:", _text_table(t["modalities"]), "", "per stage:", _text_table(t["stages"]), "",
           "written per layer (bytes Delta commits added):", _text_table(t["layers"]), "",
           f"total: {result['core_hours']:,.0f} core-hours, {result['wall_hours']:,.1f} h on {p['cores']} cores, "
           f"shuffle {human(result['shuffle_bytes'], 'B')}",
           f"nightly ({p['nightly_share']:.1%} of the pool): {result['nightly']['core_hours']:,.1f} core-hours, "
           f"{_duration(result['nightly']['wall_hours'])} on {p['cores']} cores, "
           f"shuffle {human(result['nightly']['shuffle_bytes'], 'B')}"]
    if not result["complete"]:
        out.append("incomplete: the totals leave out the modalities marked missing")
    return "\n".join(out)
