"""The training mixture: how many tokens of each modality, dataset and quality tier go out.

    modality shares   per phase (A 85/7.5/5/2.5, B 70/12/12/6, C 60/20/15/5 for
                      text/audio/video/image) or given; renormalized over the modalities the
                      pool has (the missing ones are reported)
    datasets          within a modality P(D_i) ~ n_i^(1/T), n_i = the dataset's tokens
    quality tiers     within a dataset, tokens of tier t weighted by tier_weights[t]
    budget            total tokens; null = the pool's size

The plan gives each (modality, dataset, tier) group a rate = target / available tokens. The
selection takes every document floor(rate) times and once more with probability
frac(rate), decided by a hash of (seed, doc_id): deterministic, and no driver-side list.
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


class MixingError(ValueError):
    """A mixture that cannot be planned (bad shares, empty pool, ...)."""


@dataclass
class Plan:
    groups: list[dict]          # modality, dataset, quality_tier, available, target, rate
    shares: dict[str, float]    # target modality shares after renormalization
    missing: list[str]          # modalities with a target share and no tokens
    budget: float
    params: dict

    def rates(self) -> dict[tuple[str, str, str], float]:
        return {(g["modality"], g["dataset"], g["quality_tier"]): g["rate"] for g in self.groups}


def target_shares(p: dict) -> dict[str, float]:
    """The modality shares of a validated `mixing` section: explicit shares, else the phase's."""
    shares = p["shares"] or PHASES[p["phase"]]
    if any(v < 0 for v in shares.values()) or not sum(shares.values()):
        raise MixingError(f"mixing shares must be >= 0 and not all 0: {shares}")
    return dict(shares)


def plan(pool: list[dict], p: dict) -> Plan:
    """pool: rows (modality, dataset, quality_tier, tokens) -> target tokens per group."""
    T = float(p["temperature"])
    if T <= 0:
        raise MixingError("mixing.temperature must be > 0")
    pool = [r for r in pool if r["tokens"] > 0]
    if not pool:
        raise MixingError("nothing to mix: the token pool is empty")
    want = target_shares(p)
    present = {r["modality"] for r in pool}
    missing = sorted(m for m, s in want.items() if s > 0 and m not in present)
    shares = {m: s for m, s in want.items() if m in present and s > 0}
    if not shares:
        raise MixingError(f"the pool's modalities {sorted(present)} have no share in {want}")
    total = sum(shares.values())
    shares = {m: s / total for m, s in shares.items()}
    budget = float(p["budget_tokens"] or sum(r["tokens"] for r in pool if r["modality"] in shares))
    tw = p["tier_weights"]
    groups = []
    for m, share in shares.items():
        rows = [r for r in pool if r["modality"] == m]
        sizes: dict[str, float] = {}
        for r in rows:
            sizes[r["dataset"]] = sizes.get(r["dataset"], 0.0) + r["tokens"]
        z = sum(n ** (1.0 / T) for n in sizes.values())
        for ds, n in sizes.items():
            ds_target = budget * share * n ** (1.0 / T) / z
            tiers = [r for r in rows if r["dataset"] == ds]
            wsum = sum(tw.get(r["quality_tier"], 1.0) * r["tokens"] for r in tiers)
            for r in tiers:
                target = ds_target * tw.get(r["quality_tier"], 1.0) * r["tokens"] / wsum if wsum else 0.0
                rate = target / r["tokens"]
                if rate > float(p["max_epochs"]):
                    raise MixingError(
                        f"{m}/{ds}/{r['quality_tier']} would be repeated {rate:.1f} times "
                        f"(mixing.max_epochs={p['max_epochs']}): lower the budget or the share")
                groups.append({"modality": m, "dataset": ds, "quality_tier": r["quality_tier"],
                               "available": int(r["tokens"]), "target": target, "rate": rate})
    return Plan(groups, shares, missing, budget, p)


def unit_hash(seed: int, *cols) -> Column:
    """A deterministic number in [0, 1) per row from (seed, cols)."""
    return F.pmod(F.xxhash64(F.lit(int(seed)), *cols), F.lit(1 << 40)).cast("double") / float(1 << 40)


def select(tokens: DataFrame, pl: Plan) -> DataFrame:
    """Rows of `tokens` repeated by their group's rate: adds `copy` (0..k-1)."""
    rates = tokens.sparkSession.createDataFrame(
        [(m, ds, tier, float(r)) for (m, ds, tier), r in pl.rates().items()],
        "modality string, dataset string, _tier string, _rate double")
    seed = int(pl.params["seed"])
    with_rate = (tokens.withColumn("_tier", F.coalesce("quality_tier", F.lit("none")))
                 .join(F.broadcast(rates), ["modality", "dataset", "_tier"]))
    n = (F.floor("_rate") + F.when(unit_hash(seed, "doc_id", "segment") < F.col("_rate") - F.floor("_rate"), 1)
         .otherwise(0)).cast("int")
    return (with_rate.withColumn("_n", n).where("_n > 0")
            .withColumn("copy", F.explode(F.sequence(F.lit(0), F.col("_n") - 1)))
            .drop("_tier", "_rate", "_n"))


def report(pl: Plan, realised: list[dict]) -> dict:
    """Target vs realised shares per modality and per (modality, dataset)."""
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
    return {
        "budget_tokens": pl.budget, "realised_tokens": total, "missing_modalities": pl.missing,
        "modality": {m: {"target": round(s, 6), "realised": round(by_mod.get(m, 0) / total, 6)}
                     for m, s in pl.shares.items()},
        "dataset": {k: {"target": round(v, 6), "realised": round(by_ds.get(k, 0) / total, 6)}
                    for k, v in sorted(tgt_ds.items())},
        "max_abs_error": max([abs(pl.shares[m] - by_mod.get(m, 0) / total) for m in pl.shares]
                             + [abs(v - by_ds.get(k, 0) / total) for k, v in tgt_ds.items()]),
        "epochs": {f"{g['modality']}/{g['dataset']}/{g['quality_tier']}": round(g["rate"], 4) for g in pl.groups},
    }


def n_shards(tokens: float, shard_tokens: int) -> int:
    return max(1, math.ceil(tokens / shard_tokens))
