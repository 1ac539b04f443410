"""The training mixture: how many tokens of each modality, dataset and quality tier go out.

    modality shares   per phase (A 85/7.5/5/2.5, B 70/12/12/6, C 60/20/15/5 for
                      text/audio/video/image) or given. A modality with a share and no
                      tokens fails the plan, or (missing: renormalize) its share goes to the
                      others, and the manifest lists it
    datasets          within a modality P(D_i) ~ n_i^(1/T), n_i = the dataset's tokens
    quality tiers     within a dataset, tokens of tier t weighted by tier_weights[t]
    budget            total tokens; null = the largest budget the pool supplies at these
                      shares with no group repeated (the group in shortest supply is taken
                      exactly once)
    shortfall         a budget asking a group for more tokens than it holds repeats it (up to
                      max_epochs, recorded per group), or with shortfall: fail, fails saying
                      how many tokens are missing

Shares are of the documents' tokens, by the modality of the document: an image-text pair
counts to image, a video's audio track to video (the manifest also reports the shares by
token position, what the trainer's per-modality losses see).

Selection is deterministic and exact to a fraction of one hash bucket's tokens: each
document gets u = hash(seed, doc_id, segment) in [0, 1) and a bucket floor(u x 4096); one
aggregate of tokens per (group, bucket) gives the pool and, per group with rate r, the
bucket threshold k at which the documents below it hold frac(r) of the group's tokens.
A document goes out floor(r) times, once more if its bucket is below k. No driver-side
document list, no window over a whole group.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

PHASES = {
    "A": {"text": 0.85, "audio": 0.075, "video": 0.05, "image": 0.025},
    "B": {"text": 0.70, "audio": 0.12, "video": 0.12, "image": 0.06},
    "C": {"text": 0.60, "audio": 0.20, "video": 0.15, "image": 0.05},
}
BUCKETS = 4096
GROUP = ("modality", "dataset", "quality_tier")


class MixingError(ValueError):
    """A mixture that cannot be planned (bad shares, empty pool, ...)."""


@dataclass
class Plan:
    groups: list[dict]          # modality, dataset, quality_tier, available, target, rate, threshold
    shares: dict[str, float]    # target modality shares after renormalization
    missing: list[str]          # modalities with a target share and no tokens (renormalized away)
    budget: float
    params: dict

    def key(self, g: dict) -> str:
        return pl_key(g)


def pl_key(g: dict) -> str:
    return f"{g['modality']}/{g['dataset']}/{g['quality_tier']}"


def target_shares(p: dict) -> dict[str, float]:
    """The modality shares of a validated `mixing` section: explicit shares, else the phase's."""
    shares = p["shares"] or PHASES[p["phase"]]
    if any(v < 0 for v in shares.values()) or not sum(shares.values()):
        raise MixingError(f"mixing shares must be >= 0 and not all 0: {shares}")
    return dict(shares)


def plan(pool: list[dict], p: dict, hist: list[dict] | None = None) -> Plan:
    """pool: rows (modality, dataset, quality_tier, tokens) -> target tokens per group.
    hist: rows (modality, dataset, quality_tier, bucket, tokens) (histogram()), for the
    selection thresholds; without it the plan has none (select() needs them)."""
    T = float(p["temperature"])
    if T <= 0:
        raise MixingError("mixing.temperature must be > 0")
    pool = [r for r in pool if r["tokens"] > 0]
    if not pool:
        raise MixingError("nothing to mix: the token pool is empty")
    want = target_shares(p)
    present = {r["modality"] for r in pool}
    missing = sorted(m for m, s in want.items() if s > 0 and m not in present)
    if missing and p["missing"] == "fail":
        raise MixingError("the pool has no tokens of " + ", ".join(f"{m} (share {want[m]:.1%})" for m in missing)
                          + ": run the stages that make them, set mixing.shares, or mixing.missing=renormalize")
    shares = {m: s for m, s in want.items() if m in present and s > 0}
    if not shares:
        raise MixingError(f"the pool's modalities {sorted(present)} have no share in {want}")
    total = sum(shares.values())
    shares = {m: s / total for m, s in shares.items()}
    tw = p["tier_weights"]
    groups = []
    for m, share in shares.items():       # the target of each group per token of budget
        rows = [r for r in pool if r["modality"] == m]
        sizes: dict[str, float] = {}
        for r in rows:
            sizes[r["dataset"]] = sizes.get(r["dataset"], 0.0) + r["tokens"]
        z = sum(n ** (1.0 / T) for n in sizes.values())
        for ds, n in sizes.items():
            tiers = [r for r in rows if r["dataset"] == ds]
            wsum = sum(tw.get(r["quality_tier"], 1.0) * r["tokens"] for r in tiers)
            for r in tiers:
                unit = share * n ** (1.0 / T) / z * tw.get(r["quality_tier"], 1.0) * r["tokens"] / wsum if wsum else 0.0
                groups.append({"modality": m, "dataset": ds, "quality_tier": r["quality_tier"],
                               "available": int(r["tokens"]), "unit": unit})
    supply = min(g["available"] / g["unit"] for g in groups if g["unit"] > 0)
    budget = float(p["budget_tokens"] or supply)
    for g in groups:
        g["target"] = budget * g.pop("unit")
        g["rate"] = g["target"] / g["available"]
    short = [g for g in groups if g["rate"] > 1 + 1e-9]
    limit = float(p["max_epochs"]) if p["shortfall"] == "repeat" else 1.0
    over = [g for g in short if g["rate"] > limit + 1e-9]
    if over:
        lines = "; ".join(f"{pl_key(g)} needs {g['target']:,.0f} tokens, has {g['available']:,} x {limit:g} "
                          f"epochs (missing {g['target'] - limit * g['available']:,.0f})" for g in over)
        how = (f"repeating up to mixing.max_epochs={p['max_epochs']:g}" if p["shortfall"] == "repeat"
               else "with mixing.shortfall=fail (no repetition)")
        raise MixingError(f"budget {budget:,.0f} tokens cannot be met {how}: {lines}; the pool supplies "
                          f"{supply:,.0f} tokens at these shares without repeating")
    pl = Plan(groups, shares, missing, budget, p)
    if hist is not None:
        thresholds(pl, hist)
    return pl


def unit_hash(seed: int, *cols) -> Column:
    """A deterministic number in [0, 1) per row from (seed, cols)."""
    return F.pmod(F.xxhash64(F.lit(int(seed)), *cols), F.lit(1 << 40)).cast("double") / float(1 << 40)


def with_bucket(docs: DataFrame, seed: int) -> DataFrame:
    """docs + `_tier` (quality_tier, 'none' for null) and `bucket` (0 .. BUCKETS-1) by hash."""
    return (docs.withColumn("_tier", F.coalesce("quality_tier", F.lit("none")))
            .withColumn("bucket", F.floor(unit_hash(seed, "doc_id", "segment") * BUCKETS).cast("int")))


def histogram(docs: DataFrame, seed: int) -> list[dict]:
    """Tokens and documents per (modality, dataset, quality_tier, bucket): small (groups x
    4096 rows at most), one aggregate over the documents."""
    return [r.asDict() for r in with_bucket(docs, seed).groupBy("modality", "dataset",
                                                               F.col("_tier").alias("quality_tier"), "bucket")
            .agg(F.sum("n_tokens").alias("tokens"), F.count("*").alias("docs")).collect()]


def pool_of(hist: list[dict]) -> list[dict]:
    out: dict[tuple, dict] = {}
    for r in hist:
        k = tuple(r[c] for c in GROUP)
        o = out.setdefault(k, {**dict(zip(GROUP, k)), "tokens": 0, "docs": 0})
        o["tokens"] += r["tokens"]
        o["docs"] += r["docs"]
    return list(out.values())


def thresholds(pl: Plan, hist: list[dict]) -> None:
    """Per group: the bucket k (0..BUCKETS) where the documents of buckets < k come closest
    to frac(rate) of its tokens; floor(rate) + [bucket < k] copies then realise the rate."""
    per: dict[tuple, dict[int, int]] = {}
    for r in hist:
        per.setdefault(tuple(r[c] for c in GROUP), {})[int(r["bucket"])] = int(r["tokens"])
    for g in pl.groups:
        buckets = per.get(tuple(g[c] for c in GROUP), {})
        want = (g["rate"] - math.floor(g["rate"] + 1e-12)) * g["available"]
        best_k, best_err, cum = 0, want, 0
        for b in sorted(buckets):
            cum += buckets[b]
            if abs(cum - want) < best_err:
                best_k, best_err = b + 1, abs(cum - want)
        g["whole"] = int(math.floor(g["rate"] + 1e-12))
        g["threshold"] = best_k


def select(docs: DataFrame, pl: Plan) -> DataFrame:
    """Rows of `docs` repeated by their group's rate: adds `copy` (0..k-1). Needs the
    plan's thresholds (plan(..., hist))."""
    rates = docs.sparkSession.createDataFrame(
        [(g["modality"], g["dataset"], g["quality_tier"], g["whole"], g["threshold"]) for g in pl.groups],
        "modality string, dataset string, _tier string, _whole int, _k int")
    n = (F.col("_whole") + F.when(F.col("bucket") < F.col("_k"), 1).otherwise(0)).cast("int")
    return (with_bucket(docs, int(pl.params["seed"])).join(F.broadcast(rates), ["modality", "dataset", "_tier"])
            .withColumn("_n", n).where("_n > 0")
            .withColumn("copy", F.explode(F.sequence(F.lit(0), F.col("_n") - 1)))
            .drop("_tier", "_whole", "_k", "_n", "bucket"))


def report(pl: Plan, realised: list[dict], positions: dict[str, int] | None = None) -> dict:
    """Target vs realised shares per modality and per (modality, dataset), the repetition per
    group, and (positions: tokens by token-id modality) the shares the trainer sees."""
    total = sum(r["tokens"] for r in realised) or 1
    by_mod: dict[str, float] = {}
    by_ds: dict[str, float] = {}
    for r in realised:
        by_mod[r["modality"]] = by_mod.get(r["modality"], 0) + r["tokens"]
        key = f"{r['modality']}/{r['dataset']}"
        by_ds[key] = by_ds.get(key, 0) + r["tokens"]
    tgt_ds: dict[str, float] = {}
    for g in pl.groups:
        key = f"{g['modality']}/{g['dataset']}"
        tgt_ds[key] = tgt_ds.get(key, 0) + g["target"] / pl.budget
    err = max(abs(pl.shares[m] - by_mod.get(m, 0) / total) for m in pl.shares)
    tol = float(pl.params["tolerance"])
    out = {
        "phase": None if pl.params["shares"] else pl.params["phase"], "budget_tokens": pl.budget,
        "realised_tokens": total, "missing_modalities": pl.missing,
        "modality": {m: {"target": round(s, 6), "realised": round(by_mod.get(m, 0) / total, 6),
                         "tokens": int(by_mod.get(m, 0))} for m, s in pl.shares.items()},
        "dataset": {k: {"target": round(v, 6), "realised": round(by_ds.get(k, 0) / total, 6)}
                    for k, v in sorted(tgt_ds.items())},
        "modality_max_abs_error": err, "tolerance": tol, "within_tolerance": err <= tol,
        "max_abs_error": max([err] + [abs(v - by_ds.get(k, 0) / total) for k, v in tgt_ds.items()]),
        "epochs": {pl.key(g): round(g["rate"], 4) for g in pl.groups},
        "repeated": {pl.key(g): round(g["rate"], 4) for g in pl.groups if g["rate"] > 1 + 1e-9},
    }
    if positions:
        n = sum(positions.values()) or 1
        out["token_positions"] = {m: round(v / n, 6) for m, v in sorted(positions.items())}
    return out


def n_shards(tokens: float, shard_tokens: int) -> int:
    return max(1, math.ceil(tokens / shard_tokens))
