"""The clean stage through Spark on the sample lake: coverage, lineage, languages, incremental rerun."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.clean import run_clean
from schemas.lineage import check_lineage


def test_every_bronze_row_is_in_silver_or_rejected(cleaned):
    lake, _, summary = cleaned
    bronze = {r[0] for r in lake.read("bronze.documents").select("doc_id").collect()}
    silver = {r[0] for r in lake.read("silver.documents").select("doc_id").collect()}
    rejected = {r[0] for r in lake.read("ops.rejects").filter("stage = 'clean'").select("doc_id").collect()}
    assert silver.isdisjoint(rejected) and silver | rejected == bronze
    assert summary["rows_in"] == len(bronze) == summary["kept"] + summary["rejected"]
    assert summary["kept"] > 0.8 * len(bronze)


def test_silver_rows_carry_text_language_quality_and_lineage(cleaned):
    lake, _, summary = cleaned
    silver = lake.read("silver.documents")
    check_lineage(silver, "silver.documents")
    row = silver.filter("lang = 'zh' AND extractor = 'resiliparse'").orderBy("doc_id").first()
    assert row.stage == "clean" and row.run_id == summary["run_id"] and row.ingest_run_id.startswith("ingest-")
    assert "<" not in row.text and "Cookie" not in row.text and 0 < row.lang_score <= 1
    assert 0 <= row.quality_score <= 1 and row.quality_tier in {"high", "mid", "low"} and row.n_chars > 0
    langs = {r[0] for r in silver.select("lang").distinct().collect()}
    assert len(langs) >= 12 and {"zh", "en"} <= langs
    tiers = {r[0] for r in silver.select("quality_tier").distinct().collect()}
    assert "high" in tiers


def test_rejects_name_the_rule_and_the_run_row_has_drop_rates(cleaned):
    lake, _, summary = cleaned
    rej = lake.read("ops.rejects").filter("stage = 'clean'")
    reasons = {r[0] for r in rej.select("reason").distinct().collect()}
    assert reasons and all(r.startswith(("gopher_", "c4_", "fineweb_", "cjk_", "lang_", "extraction_")) for r in reasons)
    run = lake.read("ops.runs").filter(F.col("run_id") == summary["run_id"]).first()
    assert run.status == "succeeded" and run.rows_in == run.rows_kept + run.rows_rejected
    for reason, n in summary["dropped"].items():
        assert run.metrics[f"dropped.{reason}"] == n
        assert run.metrics[f"drop_rate.{reason}"] == pytest.approx(n / run.rows_in)


def test_signals_stored_for_every_document_kept_or_not(cleaned):
    lake, _, summary = cleaned
    sig = lake.read("silver.text_signals")
    assert sig.count() == summary["rows_in"]
    counts = {r["decision"]: r["count"] for r in sig.groupBy("decision").count().collect()}
    assert counts == {"kept": summary["kept"], "rejected": summary["rejected"]}
    one = sig.filter("decision = 'kept'").first()
    assert {"n_words", "dup_5gram_frac", "line_punct_frac", "cjk_punct_frac"} <= set(one.signals)


def test_clean_is_incremental_and_idempotent(cleaned, spark, sample_dirs, tmp_path):
    lake, cfg, _ = cleaned
    before = lake.read("silver.documents").count()
    again = run_clean(spark, lake, cfg)
    assert again["rows_in"] == 0 and lake.read("silver.documents").count() == before
    # a new dump arrives: only its rows are cleaned
    import json
    import random

    from corpora.sample import dump_records, load_texts
    from jobs.ingest import run_ingest
    recs = dump_records(load_texts(), 12, random.Random(7), "late")
    (tmp_path / "late.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n")
    run_ingest(spark, lake, cfg, [str(tmp_path / "late.jsonl")], "late-dump")
    new = run_clean(spark, lake, cfg)
    assert new["rows_in"] == 12 and new["kept"] + new["rejected"] == 12
