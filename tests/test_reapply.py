"""Decisions re-applied from stored signals: `clean --reapply` after a threshold change, on a
copy of the tokenized sample lake; later stages then take the change incrementally."""
from __future__ import annotations

import shutil

import pytest
from pyspark.sql import functions as F

from jobs.common.config import load_config
from jobs.common.lake import Lake
from tests.conftest import TEST_OVERRIDES

# the models cannot be loaded: a re-decision that ran one would fail
NO_MODELS = ["clean.lid.model=/nonexistent/lid.176.ftz", "clean.quality.model=/nonexistent/quality.bin"]


def _copy(sample_lake, tmp_path_factory, name: str):
    src, _, _ = sample_lake
    root = tmp_path_factory.mktemp(name) / "lake"
    shutil.copytree(src.root.removeprefix("file:"), root)
    return root


@pytest.fixture(scope="module")
def copied(_tokenized, _sample_lake, tmp_path_factory):
    return _copy(_sample_lake, tmp_path_factory, "reapply")


def _cfg(root, *overrides):
    return load_config("sample", TEST_OVERRIDES + [f"lake.root={root}", *overrides])


def _rule_names(detail: str | None) -> set[str]:
    """The rules a stored reject detail lists ('rule: signal=value, rule: ...')."""
    return {part.split(":")[0].strip() for part in (detail or "").split(", ") if ":" in part}


def test_threshold_change_reapplied_without_models_and_taken_downstream(copied, spark):
    from jobs.clean import run_reapply
    from jobs.dedup import run_dedup

    cfg = _cfg(copied)
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    sig = {r.doc_id: r for r in lake.read("silver.text_signals").collect()}
    rejects = {r.doc_id: r for r in lake.read("ops.rejects").where("stage = 'clean'").collect()}
    kept_before = {r.doc_id for r in lake.read("silver.documents").select("doc_id").collect()}
    tokens_before = {r.doc_id for r in lake.read("gold.tokens").where("modality = 'text'").select("doc_id").collect()}
    # the loosened rule: the commonest rule reject but the one tightened; admitted: those it alone failed
    rule_reasons = [r.reason for r in rejects.values() if r.reason not in ("extraction_empty", "extractor_error",
                                                                            "gopher_min_words")
                    and not r.reason.startswith("lang_")]
    loosened = max(set(rule_reasons), key=rule_reasons.count)
    cjk = {"zh", "ja", "yue", "wuu", "gan"}
    words = {d: s.signals["n_words"] for d, s in sig.items()}
    space = {d for d, s in sig.items() if s.lang not in cjk}
    admitted = {d for d, r in rejects.items() if r.reason == loosened and _rule_names(r.detail) == {loosened}
                and not (d in space and words[d] < 120)}
    newly_rejected = {d for d in kept_before if d in space and words[d] < 120}
    assert admitted and newly_rejected

    # a few documents measured by an older version: their stored signals lack one
    older = sorted(kept_before - newly_rejected)[:5]
    lake.merge_update("silver.text_signals", lake.read("silver.text_signals").where(F.col("doc_id").isin(older))
                      .select("doc_id", F.map_filter("signals", lambda k, v: k != "top_char_frac").alias("signals")),
                      ["signals"])

    rcfg = _cfg(copied, f"clean.rules.{loosened}.enabled=false", "clean.rules.gopher_min_words.min=120", *NO_MODELS)
    summary = run_reapply(spark, lake, rcfg)
    assert summary["admitted"] == len(admitted) and summary["newly_rejected"] == len(newly_rejected)
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.status == "succeeded" and run.rows_in == run.rows_kept + run.rows_rejected
    assert run.metrics["reapply.remeasured"] == 5

    silver = {r.doc_id: r for r in lake.read("silver.documents").collect()}
    assert set(silver) == (kept_before - newly_rejected) | admitted
    assert all(silver[d].text.strip() and silver[d].lang == sig[d].lang and silver[d].run_id == summary["run_id"]
               for d in admitted)
    now_rejects = {r.doc_id: r.reason for r in lake.read("ops.rejects").where("stage = 'clean'").collect()}
    assert not admitted & set(now_rejects)
    assert all(now_rejects[d] == "gopher_min_words" for d in newly_rejected)
    decided = {r.doc_id: (r.decision, r.reason) for r in lake.read("silver.text_signals").collect()}
    assert all(decided[d] == ("kept", None) for d in admitted)
    assert all(decided[d] == ("rejected", "gopher_min_words") for d in newly_rejected)
    assert all("top_char_frac" in r.signals for r in lake.read("silver.text_signals")
               .where(F.col("doc_id").isin(older)).collect())
    # the newly rejected left the later stages' tables
    for table, where in (("silver.minhash", "true"), ("silver.redacted_documents", "true"),
                         ("gold.tokens", "modality = 'text'")):
        left = {r.doc_id for r in lake.read(table).where(where).select("doc_id").collect()}
        assert not left & newly_rejected, table
    assert tokens_before & newly_rejected           # they had been tokenized before

    # idempotent: the same change again changes nothing
    again = run_reapply(spark, lake, rcfg)
    assert again["admitted"] == again["newly_rejected"] == again["reason_changed"] == 0 and again["remeasured"] == 0

    # dedup takes exactly the admitted documents as new
    assert run_dedup(spark, lake, _cfg(copied))["rows_in"] == len(admitted)


@pytest.fixture(scope="module")
def copied_for_pii(_tokenized, _sample_lake, tmp_path_factory):
    return _copy(_sample_lake, tmp_path_factory, "reapply-pii")


def test_license_policy_change_reapplied_by_pii(copied_for_pii, spark):
    from collections import Counter

    from jobs.pii import reapply_license, run_pii

    cfg = _cfg(copied_for_pii)
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    red = {r.doc_id: r for r in lake.read("silver.redacted_documents").collect()}
    rej = {r.doc_id: r.reason for r in lake.read("ops.rejects").where("stage = 'pii'").collect()}
    docs = {r.doc_id: r for r in lake.read("silver.documents").select("doc_id", "dataset", "license").collect()}
    # one dataset's refused licenses (unknown, or off the allow-list) are now kept; the commonest
    # allowed license is now refused
    (reason, dataset), _ = Counter((r, docs[d].dataset) for d, r in rej.items()
                                   if r in ("license_unknown", "license_not_allowed")).most_common(1)[0]
    key = "unknown" if reason == "license_unknown" else "other"
    refused = Counter(r.license for r in red.values() if r.license_status == "allowed").most_common(1)[0][0]
    allow = [a for a in cfg["license"]["allow"] if not refused.startswith(a.rstrip("*"))]
    lifted = {d for d, r in rej.items() if r == reason and docs[d].dataset == dataset}
    refused_docs = {d for d, r in red.items() if r.license == refused}
    # ... unless their dataset now keeps licenses off the allow-list: relabelled kept_other
    relabelled = {d for d in refused_docs if key == "other" and docs[d].dataset == dataset}
    revoked = refused_docs - relabelled
    assert lifted and revoked
    rcfg = _cfg(copied_for_pii, f"license.datasets.{dataset}.{key}=keep", f"license.allow=[{', '.join(allow)}]")

    summary = reapply_license(spark, lake, rcfg)
    assert summary["lifted"] == len(lifted) and summary["revoked"] == len(revoked)
    assert summary["relabelled"] == len(relabelled)
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.status == "succeeded" and run.rows_in == run.rows_kept + run.rows_rejected + len(lifted)
    now = {r.doc_id: r.reason for r in lake.read("ops.rejects").where("stage = 'pii'").collect()}
    assert not lifted & set(now) and all(now[d] == "license_not_allowed" for d in revoked)
    assert not revoked & {r.doc_id for r in lake.read("silver.redacted_documents").select("doc_id").collect()}
    tokens = lake.read("gold.tokens").where("modality = 'text'").select("doc_id").collect()
    assert not revoked & {r.doc_id for r in tokens}

    # the usual run that follows analyses the lifted documents, and only them
    after = run_pii(spark, lake, rcfg)
    assert after["rows_in"] == len(lifted)
    statuses = {r.doc_id: r.license_status for r in lake.read("silver.redacted_documents").collect()}
    assert all(statuses[d] == "kept_other" for d in relabelled)
    assert {statuses.get(d) for d in lifted} <= {f"kept_{key}", None}         # None: dropped for its PII
    assert reapply_license(spark, lake, rcfg)["lifted"] == 0                   # idempotent
