"""License and opt-out policy as Spark columns: which documents may go forward, and why.

    license:
      allow: [CC0-1.0, CC-BY-*, CC-BY-SA-*, PDM-1.0, public-domain, owned]   # any case; * = any version
      unknown: reject        # a missing/unknown license: reject | keep
      other: reject          # a stated license off the allow-list (CC-BY-NC-*, proprietary)
      datasets: {my-crawl: {unknown: keep}}     # per-dataset overrides of unknown/other
      robots_optout: [noai, noimageai]          # X-Robots-Tag / <meta name=robots> tokens (ingest) that reject

`license_status` of a kept document: allowed | kept_unknown | kept_other (kept by policy);
the reason of a rejected one: robots_optout | license_unknown | license_not_allowed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from pyspark.sql import Column
from pyspark.sql import functions as F

UNKNOWN_VALUES = ("", "unknown", "none", "null")


@dataclass(frozen=True)
class LicensePolicy:
    allow: tuple[str, ...]
    unknown: str                                      # reject | keep
    other: str
    datasets: dict = field(default_factory=dict)      # dataset -> {"unknown": .., "other": ..}
    robots_optout: tuple[str, ...] = ()

    @property
    def allow_regex(self) -> str:
        parts = [re.escape(g).replace(r"\-\*", "(?:-[0-9][0-9.]*)?").replace(r"\*", "[0-9.]*") for g in self.allow]
        return "(?i)^(?:" + "|".join(parts) + ")$" if parts else "^$.^"


def license_policy(cfg: dict) -> LicensePolicy:
    """The policy of a validated config's `license` section (schemas/config.py LicenseConfig)."""
    c = cfg["license"]
    datasets = {d: {k: v for k, v in o.items() if v is not None} for d, o in c["datasets"].items()}
    return LicensePolicy(allow=tuple(c["allow"]), unknown=c["unknown"], other=c["other"], datasets=datasets,
                         robots_optout=tuple(t.lower() for t in c["robots_optout"]))


def _per_dataset(pol: LicensePolicy, key: str) -> Column:
    default = F.lit(getattr(pol, key))
    pairs = [x for d, o in sorted(pol.datasets.items()) if key in (o or {}) for x in (F.lit(d), F.lit(o[key]))]
    if not pairs:
        return default
    return F.coalesce(F.create_map(*pairs)[F.col("dataset")], default)


def decide_license(robots_tag: Column, pol: LicensePolicy) -> tuple[Column, Column, Column]:
    """(license_status, reject_reason, detail) columns over `license` and `dataset`."""
    lic = F.trim(F.coalesce(F.col("license"), F.lit("")))
    unknown = F.lower(lic).isin(*UNKNOWN_VALUES)
    allowed = lic.rlike(pol.allow_regex)
    tag = F.lower(F.coalesce(robots_tag, F.lit("")))
    optout = F.lit(False)
    for token in pol.robots_optout:
        optout = optout | tag.rlike(r"(^|[\s,:;])" + re.escape(token) + r"($|[\s,;])")
    keep_unknown = _per_dataset(pol, "unknown") == "keep"
    keep_other = _per_dataset(pol, "other") == "keep"
    reason = (F.when(optout, "robots_optout")
              .when(allowed, None)
              .when(unknown & ~keep_unknown, "license_unknown")
              .when(~unknown & ~keep_other, "license_not_allowed"))
    status = (F.when(reason.isNotNull(), None).when(allowed, "allowed")
              .when(unknown, "kept_unknown").otherwise("kept_other"))
    detail = (F.when(reason == "robots_optout", F.concat(F.lit("robots: "), robots_tag))
              .when(reason.isNotNull(), F.concat(F.lit("license "), F.when(unknown, F.lit("unknown")).otherwise(lic),
                                                 F.lit(" of dataset "), F.col("dataset"),
                                                 F.lit(" is not on license.allow"))))
    return status, reason, detail
