"""The dedup stage through Spark: crafted clusters in English and Chinese, the sample's
planted duplicates, incremental runs against the index, idempotence."""
from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from pyspark.sql import functions as F

from corpora.sample import load_texts
from jobs.dedup import run_dedup

TEXTS = load_texts()


def silver_rows(docs: list[tuple[str, str, str, str]], run_id: str = "clean-test") -> list[dict]:
    """(doc_id, lang, text, tier) -> silver.documents rows with lineage filled."""
    now = datetime(2026, 11, 1, tzinfo=UTC)
    return [{"doc_id": d, "source_uri": f"file:/crafted/{d}", "source_record": d, "dataset": "crafted",
             "license": "CC0-1.0", "content_sha256": d * 2, "parent_ids": [], "ingest_run_id": "ingest-test",
             "run_id": run_id, "stage": "clean", "processed_at": now, "pipeline_version": "test",
             "url": f"https://{d}.example.org/page", "host": f"{d}.example.org", "fetch_time": now, "title": None,
             "text": text, "lang": lang, "lang_score": 0.99, "quality_score": 0.9, "quality_tier": tier,
             "n_chars": len(text), "n_words": len(text.split()), "extractor": "none"} for d, lang, text, tier in docs]


def edit(text: str, rate: float, seed: int, cjk: bool = False) -> str:
    rng = random.Random(seed)
    if not cjk:
        return " ".join(w if rng.random() > rate else "altered" for w in text.split(" "))
    return "".join(c if rng.random() > rate else "改" for c in text)



def crafted_lake(spark, lake_at, root):
    lake, cfg = lake_at(root)
    en = "\n\n".join(TEXTS["en"][2:6])
    zh = "\n\n".join(TEXTS["zh"][2:6])
    core, a, b = TEXTS["en"][60:68], TEXTS["en"][68:70], TEXTS["en"][70:72]
    docs = [
        ("en_a", "en", en, "mid"),
        ("en_b", "en", en, "high"),                                        # identical, better tier: kept
        ("en_c", "en", edit(en, 0.02, 1) + "\nShare this page", "mid"),    # near-identical + boilerplate
        ("en_x", "en", "\n\n".join(TEXTS["en"][30:34]), "high"),            # unrelated
        ("zh_a", "zh", zh, "high"),
        ("zh_b", "zh", edit(zh, 0.01, 2, cjk=True), "high"),                # near-identical Chinese
        ("zh_x", "zh", "\n\n".join(TEXTS["zh"][40:44]), "low"),             # unrelated
        ("old_a", "en", "\n\n".join(core + a), "mid"),                      # A and B: estimated Jaccard 0.68,
        ("old_b", "en", "\n\n".join(b + core), "mid"),                      # under the threshold: both kept
    ]
    from schemas.tables import SILVER_DOCUMENTS
    lake.merge_insert("silver.documents", spark.createDataFrame(silver_rows(docs), SILVER_DOCUMENTS))
    return lake, cfg, "\n\n".join(core)


def states(lake):
    return {r.doc_id: (r.dup_cluster_id, r.dup_cluster_size, r.dup_keep)
            for r in lake.read("silver.documents").collect()}


def test_keep_policy_without_the_quality_tier_ignores_the_tier(spark, lake_at, tmp_path):
    """dedup.keep_by without quality_tier: the classifier plays no part in the choice; of the
    identical en_a (mid) and en_b (high), fetched at once, the smaller doc_id is kept."""
    lake, cfg, _ = crafted_lake(spark, lake_at, tmp_path / "lake")
    cfg["dedup"]["keep_by"] = ["fetch_time"]
    run_dedup(spark, lake, cfg)
    s = states(lake)
    assert s["en_a"][0] == s["en_b"][0] == s["en_c"][0]
    assert s["en_a"][2] and not s["en_b"][2] and not s["en_c"][2]


def test_crafted_documents_cluster_correctly_then_incrementally(spark, lake_at, tmp_path):
    """A first run over crafted English and Chinese clusters; a rerun that finds nothing new;
    then a later batch: a near copy of an old kept document is dropped (the old decision
    stands), and C, close to both A and B (estimated Jaccard 0.88 and 0.76), joins them into
    one cluster: C is dropped, A and B stay kept, and dup_rate_after reports it."""
    from schemas.tables import SILVER_DOCUMENTS

    lake, cfg, core = crafted_lake(spark, lake_at, tmp_path / "lake")
    summary = run_dedup(spark, lake, cfg)
    s = states(lake)
    assert s["en_a"][0] == s["en_b"][0] == s["en_c"][0] and s["en_b"][1] == 3
    assert s["en_b"][2] and not s["en_a"][2] and not s["en_c"][2]  # high tier wins
    assert s["zh_a"][0] == s["zh_b"][0] and s["zh_a"][2] != s["zh_b"][2]
    assert all(s[d][1] == 1 and s[d][2] for d in ("en_x", "zh_x", "old_a", "old_b"))
    rej = {r.doc_id: r for r in lake.read("ops.rejects").where("stage = 'dedup'").collect()}
    assert rej["en_a"].reason == "exact_duplicate" and rej["en_a"].ref_doc_id == "en_b"
    assert rej["en_c"].reason == "near_duplicate" and rej["en_c"].ref_doc_id == "en_b"
    assert rej[next(d for d in ("zh_a", "zh_b") if not s[d][2])].reason == "near_duplicate"
    assert summary["rows_in"] == 9 and summary["kept"] == 6 and summary["rejected"] == 3
    marked = lake.read("silver.documents").select("run_id", "stage").distinct().collect()
    assert [(r.run_id, r.stage) for r in marked] == [(summary["run_id"], "dedup")]  # last writer
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.rows_in == run.rows_kept + run.rows_rejected and run.metrics["dup_rate_before"] == pytest.approx(3 / 9)
    assert run.metrics["dup_rate_after"] == 0.0

    again = run_dedup(spark, lake, cfg)
    assert again["rows_in"] == 0  # idempotent: nothing new, nothing changes

    late = edit("\n\n".join(TEXTS["en"][30:34]), 0.02, 9)  # near copy of the old en_x
    lake.merge_insert("silver.documents", spark.createDataFrame(
        silver_rows([("late", "en", late, "high"), ("fresh", "en", "\n\n".join(TEXTS["en"][50:54]), "low"),
                     ("new_c", "en", core, "high")], "clean-2"), SILVER_DOCUMENTS))
    inc = run_dedup(spark, lake, cfg)
    assert inc["rows_in"] == 3 and inc["rejected"] == 2
    s = states(lake)
    assert s["late"][2] is False and s["late"][0] == s["en_x"][0] and s["en_x"][2] is True  # old decision stands
    assert s["fresh"][2] is True
    # new_c bridges the kept old_a and old_b: it joins the representative's cluster (old_a, 2 members);
    # old_b keeps its own id (old decisions stand)
    assert s["new_c"][2] is False and s["new_c"][0] == "old_a" and s["new_c"][1] == 2
    assert s["old_a"][2] and s["old_b"][2] and s["old_b"][0] == "old_b"
    rej = {r.doc_id: r for r in lake.read("ops.rejects").where("doc_id IN ('late', 'new_c')").collect()}
    assert rej["late"].reason == "near_duplicate" and rej["late"].ref_doc_id == "en_x"
    assert rej["new_c"].reason == "near_duplicate" and rej["new_c"].ref_doc_id in ("old_a", "old_b")
    # kept documents of the pool: fresh and the old en_x, old_a and old_b; A and B share a cluster
    assert inc["dup_rate_after"] == 0.5

    # a third run: another copy of en_x whose doc_id sorts first still takes the stored cluster id,
    # and the cluster's latest row counts every member of the three runs
    lake.merge_insert("silver.documents", spark.createDataFrame(
        silver_rows([("aaa_late2", "en", edit("\n\n".join(TEXTS["en"][30:34]), 0.02, 11), "mid")], "clean-3"),
        SILVER_DOCUMENTS))
    third = run_dedup(spark, lake, cfg)
    assert third["rows_in"] == 1 and third["rejected"] == 1
    s = states(lake)
    assert s["aaa_late2"] == ("en_x", 3, False) and s["late"][0] == s["en_x"][0] == "en_x"
    clusters = {r.dup_cluster_id: (r.docs, r.kept) for r in spark.sql(
        "SELECT dup_cluster_id, count(*) AS docs, max_by(doc_id, dup_keep) AS kept FROM silver.documents "
        "WHERE dup_cluster_size > 1 GROUP BY dup_cluster_id").collect()}          # the README's cluster query
    assert clusters["en_x"] == (3, "en_x") and clusters[s["en_b"][0]] == (3, "en_b")
    assert lake.read("silver.minhash").where("cluster_id = 'en_x'").count() == 3


def test_bucket_pairs_beyond_its_minimum(spark):
    """Two near-duplicates that share an LSH bucket with a smaller, dissimilar doc_id: a star
    on the bucket's minimum checks only min-b1 and min-b2 (both fail) and never links them."""
    import numpy as np

    from pipelines.dedup.components import connected_components
    from pipelines.dedup.stage import candidate_edges

    rng = np.random.default_rng(3)
    b1 = rng.integers(0, 2 ** 32, 112, dtype=np.uint32)
    b2 = b1.copy()
    b2[:10] = rng.integers(0, 2 ** 32, 10, dtype=np.uint32)               # estimated Jaccard ~0.91
    other = rng.integers(0, 2 ** 32, 112, dtype=np.uint32)
    rows = [(d, f"h{d}", None, [7, int(rng.integers(1 << 40))], sig.tobytes())
            for d, sig in (("a_min", other), ("b1", b1), ("b2", b2))]
    pool = spark.createDataFrame(rows, "doc_id string, norm_hash string, url_norm string, bands array<long>, "
                                       "signature binary")
    edges = {(r.src, r.dst) for r in candidate_edges(pool, 0.75, window=2).collect()}
    assert edges == {("b1", "b2")}
    roots = {r.node: r.root for r in connected_components(candidate_edges(pool, 0.75, window=2)).collect()}
    assert roots == {"b1": "b1", "b2": "b1"}


def test_sample_duplicates_found(deduped, spark):
    lake, cfg, summary = deduped
    assert summary["rows_in"] == lake.read("silver.documents").count()
    reasons = summary["dropped"]
    assert reasons.get("exact_duplicate", 0) > 10 and reasons.get("near_duplicate", 0) > 5, reasons
    silver = lake.read("silver.documents")
    kept_ids = {r[0] for r in silver.where("dup_keep").select("doc_id").collect()}
    refs = {r[0] for r in lake.read("ops.rejects").where("stage = 'dedup'").select("ref_doc_id").collect()}
    assert refs <= kept_ids  # every dropped document points at a kept one
    assert silver.where("dup_keep IS NULL").count() == 0


def test_connected_components_match_union_find(spark):
    """Chains in shuffled id order (many rounds), stars, random components and pairs, against
    a plain union-find."""
    from pipelines.dedup.components import connected_components

    rng = random.Random(7)
    ids = [f"n{k:04d}" for k in range(400)]
    rng.shuffle(ids)
    edges = [(ids[k], ids[k + 1]) for k in range(59)]                        # one path of 60 nodes
    edges += [(ids[60], ids[k]) for k in range(61, 90)]                       # a star
    pool = ids[90:300]
    edges += [(rng.choice(pool), rng.choice(pool)) for _ in range(150)]        # random sparse components
    edges += [(ids[k], ids[k + 1]) for k in range(300, 400, 2)]                # pairs
    parent = {}

    def find(x):
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for a, b in edges:
        ra, rb = find(a), find(b)
        parent[max(ra, rb)] = min(ra, rb)
    want = {}
    for x in {n for e in edges for n in e}:
        want.setdefault(find(x), set()).add(x)
    want = {x: min(members) for members in want.values() for x in members}

    got = {r.node: r.root for r in connected_components(spark.createDataFrame(edges, "src string, dst string")).collect()}
    assert got == want
