"""Unified vocabulary, Qwen BPE round trips, and the tokenize stage on the sample lake."""
from __future__ import annotations

import copy
import json

import pytest
from pyspark.sql import functions as F

from jobs.common.config import load_config
from jobs.tokenize import run_tokenize, vocab_rel
from schemas.lineage import check_lineage
from tests.conftest import TEST_OVERRIDES
from tokenize_jobs.vocab import TextTokenizer, VocabError, build, check, load


@pytest.fixture(scope="module")
def vocab():
    return build()


def test_vocabulary_ranges_are_contiguous_and_reserve_every_codebook(vocab, tmp_path):
    m = vocab.manifest
    spans = sorted((r["start"], r["end"]) for r in m["ranges"].values())
    assert spans[0][0] == 0
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))        # no gap, no overlap
    assert m["ranges"]["text_bpe"]["end"] == m["bpe"]["ranks"] == 151643
    assert vocab.codebook("image") == (vocab.codebook("image")[0], vocab.codebook("image")[0] + 16384)
    levels = [vocab.codebook(f"audio_l{i}") for i in range(8)]
    assert all(b - a == 1024 for a, b in levels) and vocab.codebook("video")[1] - vocab.codebook("video")[0] == 16384
    lo, hi = vocab.codebook("special")
    for tok in ("<|eod|>", "<|pad|>", "<|image_start|>", "<|video_end|>", "<|t_0|>", "<|pii_email|>"):
        assert lo <= vocab.specials[tok] < hi
    assert vocab.size % 128 == 0 and vocab.size >= m["used"]
    # the manifest round-trips, and any change of content is a new version
    again = load(vocab.save(str(tmp_path / "v.json")))
    assert again.version == vocab.version == build().version
    assert build({"audio_levels": 4}).version != vocab.version
    bad = copy.deepcopy(m)
    bad["ranges"]["video"]["start"] -= 1
    with pytest.raises(VocabError, match="does not follow"):
        check(bad)
    ids = vocab.modality_of([0, vocab.codebook("image")[0], vocab.codebook("audio_l3")[0], vocab.codebook("video")[1] - 1])
    assert list(ids) == [0, 1, 2, 3]


def test_text_round_trip_and_special_tokens(vocab):
    tok = TextTokenizer(vocab)
    texts = ["Hello, world!\n\nSecond paragraph with  two spaces.", "中文文本：你好，世界。身份证号码不应出现。",
             "Emoji 🙂 and combining é e\u0301 and tabs\tand \r\n line ends", "",
             "user wrote <|eod|> and <|image_start|> literally", "mail <|pii_email|> or call <|pii_phone|>"]
    ids = tok.encode_batch(texts)
    for t, i in zip(texts, ids):
        assert tok.decode(i) == t
    assert all(0 <= x < vocab.size for i in ids for x in i)
    # structure tokens typed in raw text stay text; PII placeholders become their own ids
    assert vocab.eod not in ids[4] and vocab.specials["<|image_start|>"] not in ids[4]
    assert vocab.specials["<|pii_email|>"] in ids[5] and vocab.specials["<|pii_phone|>"] in ids[5]
    assert max(max(i) for i in ids[:4] if i) < vocab.codebook("text_bpe")[1]


def test_tokenize_stage_round_trips_the_sample(tokenized, spark):
    lake, cfg, summary = tokenized
    silver = lake.read("silver.redacted_documents").where("dup_keep")   # what the pii stage let through
    gold = lake.read("gold.tokens")
    assert summary["rows_in"] == silver.count() == gold.count() > 500
    assert summary["rejected"] == 0 and summary["new_tokens"] == gold.agg(F.sum("n_tokens")).first()[0]
    check_lineage(gold, "gold.tokens")
    assert gold.where("stage = 'tokenize' AND modality = 'text' AND segment = 0").count() == gold.count()
    assert gold.where(F.size("tokens") != F.col("n_tokens")).count() == 0
    vocab = load_vocab_of(lake, summary["vocab_version"])
    tok = TextTokenizer(vocab)
    rows = gold.select("doc_id", "tokens").join(silver.select("doc_id", "text"), "doc_id").select("text", "tokens").collect()
    assert all(tok.decode(r.tokens) == r.text for r in rows)
    # token accounting: the counts table adds up to gold.tokens, per language too
    counts = lake.read("gold.token_counts").where(F.col("run_id") == summary["run_id"])
    assert counts.agg(F.sum("tokens")).first()[0] == summary["new_tokens"]
    by_lang = {r.lang: r.t for r in counts.groupBy("lang").agg(F.sum("tokens").alias("t")).collect()}
    assert by_lang["zh"] > 0 and by_lang["en"] > 0 and len(by_lang) >= 10
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.status == "succeeded" and run.metrics["tokens.modality.text"] == summary["new_tokens"]


def load_vocab_of(lake, version):
    from tokenize_jobs.vocab import Vocab
    return Vocab(json.loads(lake.read_text(vocab_rel(version))))


def test_tokenize_rerun_is_idempotent_and_a_new_vocabulary_is_refused(tokenized, spark):
    lake, cfg, first = tokenized
    before = lake.read("gold.tokens").count()
    again = run_tokenize(spark, lake, cfg)
    assert again["rows_in"] == 0 and again["written"] == 0
    assert lake.read("gold.tokens").count() == before
    other = load_config("sample", TEST_OVERRIDES + [f"lake.root={lake.root}", "tokenize.vocab.image_codes=8192"])
    with pytest.raises(VocabError, match="never a silent remap"):
        run_tokenize(spark, lake, other)
    failed = lake.read("ops.runs").where("stage = 'tokenize' AND status = 'failed'").count()
    assert failed == 1


def test_a_run_killed_before_its_count_is_counted_by_the_next(tokenized, spark, tmp_path, monkeypatch):
    """Counting reads only uncounted runs' rows (jobs/tokenize.py uncounted_runs): a run that
    wrote gold.tokens and died before counting is counted by the next run, exactly once."""
    import shutil

    from delta.tables import DeltaTable

    import jobs.tokenize as tk
    from jobs.common.lake import Lake

    src, _, first = tokenized
    root = tmp_path / "lake"
    shutil.copytree(src.root.removeprefix("file:"), root)
    cfg = load_config("sample", TEST_OVERRIDES + [f"lake.root={root}"])
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    try:
        some = [r.doc_id for r in lake.read("gold.tokens").select("doc_id").orderBy("doc_id").limit(20).collect()]
        DeltaTable.forPath(spark, lake.path("gold.tokens")).delete(F.col("doc_id").isin(some))

        def killed(*args, **kwargs):
            raise RuntimeError("killed before the count")

        monkeypatch.setattr(tk, "count_tokens", killed)
        with pytest.raises(RuntimeError, match="killed before the count"):
            tk.run_tokenize(spark, lake, cfg)
        monkeypatch.undo()
        gold = lake.read("gold.tokens")
        dead = [r.run_id for r in gold.where(F.col("doc_id").isin(some)).select("run_id").distinct().collect()]
        assert len(dead) == 1 and dead[0] != first["run_id"]
        assert lake.read("ops.runs").where(F.col("run_id") == dead[0]).first().status == "failed"
        written = gold.where(F.col("run_id") == dead[0]).agg(F.count("*"), F.sum("n_tokens")).first()
        assert written[0] == 20
        counts = lake.read("gold.token_counts")
        assert counts.where(F.col("run_id") == dead[0]).count() == 0
        again = tk.run_tokenize(spark, lake, cfg)
        assert again["rows_in"] == 0 and again["new_tokens"] == 0
        for _ in range(2):      # counted once: a later run adds nothing for it
            got = (lake.read("gold.token_counts").where(F.col("run_id") == dead[0])
                   .agg(F.sum("docs"), F.sum("tokens")).first())
            assert (got[0], got[1]) == (20, written[1])
            tk.run_tokenize(spark, lake, cfg)
        assert dead[0] not in tk.uncounted_runs(lake, "this-run")
    finally:
        src.activate()
