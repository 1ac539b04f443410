"""Packing, the mixer, and the export stage: Megatron shards that read back with boundaries."""
from __future__ import annotations

import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from pyspark.sql import functions as F

from jobs.common.config import load_config
from jobs.export import run_export
from quality_models.models import sha256_file
from tokenize_jobs import mixing
from tokenize_jobs.pack import pack, unpack

EOD, PAD = 9, 0


def docs_of(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return [(f"d{i}", 0, rng.integers(10, 100, n).astype(np.int32)) for i, n in enumerate(lengths)]


def test_packing_never_splits_a_fitting_document_and_marks_pieces():
    docs = docs_of([5, 30, 7, 12, 63, 2, 40, 150, 9, 0, 31])
    seqs = list(pack(docs, 64, EOD, PAD, open_max=3))
    assert all(s.tokens.size == 64 for s in seqs)
    seen: dict[str, list] = {}
    for s in seqs:
        for doc_id, _copy, start, length, piece, n_pieces in s.spans:
            seen.setdefault(doc_id, []).append((piece, n_pieces, s.tokens[start:start + length]))
    by_id = {d[0]: d[2] for d in docs}
    for doc_id, pieces in seen.items():
        pieces.sort(key=lambda p: p[0])
        n = pieces[0][1]
        assert [p[0] for p in pieces] == list(range(n))
        if by_id[doc_id].size + 1 <= 64:
            assert n == 1                                   # fits: never split
        joined = np.concatenate([p[2] for p in pieces])
        assert joined[-1] == EOD and np.array_equal(joined[:-1], by_id[doc_id])
    assert set(seen) == set(by_id)
    # every fitting document reads back from its sequence alone, split at <|eod|>
    unpacked = [d for s in seqs for d in unpack(s.tokens, EOD, PAD)]
    for ids in by_id.values():
        if ids.size + 1 <= 64:
            assert any(np.array_equal(ids, u) for u in unpacked)
    assert [s.tokens.tobytes() for s in seqs] == [s.tokens.tobytes() for s in pack(docs, 64, EOD, PAD, 3)]
    pad = sum(s.n_pad for s in seqs)
    assert pad == 64 * len(seqs) - sum(d[2].size + 1 for d in docs)


@pytest.fixture(scope="module")
def synthetic_pool(spark):
    """Documents of all four modalities (lengths only) and their histogram for seed 3."""
    rng = np.random.default_rng(7)
    rows = []
    layout = {"text": {"web": 40000, "books": 8000, "code": 2000}, "audio": {"podcasts": 3000, "lectures": 1000},
              "video": {"clips": 2500}, "image": {"pairs": 6000}}
    for modality, datasets in layout.items():
        for ds, n in datasets.items():
            tiers = rng.choice(["high", "mid", "low"], n, p=[0.3, 0.5, 0.2])
            lengths = rng.integers(50, 800, n) if modality != "video" else rng.integers(700, 7000, n)
            rows += [(f"{ds}-{i}", 0, modality, ds, str(t), int(n)) for i, (t, n) in enumerate(zip(tiers, lengths))]
    pool_df = spark.createDataFrame(rows, "doc_id string, segment int, modality string, dataset string, "
                                          "quality_tier string, n_tokens long").cache()
    yield pool_df, mixing.histogram(pool_df, 3)
    pool_df.unpersist()


@pytest.mark.parametrize("phase", ["A", "B", "C"])
def test_mixer_hits_the_phase_shares_on_a_synthetic_multimodal_pool(synthetic_pool, phase):
    pool_df, hist = synthetic_pool
    p = load_config("sample", [f"mixing.phase={phase}", "mixing.temperature=3.0", "mixing.budget_tokens=6000000",
                               "mixing.seed=3"])["mixing"]
    plan = mixing.plan(mixing.pool_of(hist), p, hist)
    assert plan.missing == [] and abs(sum(plan.shares.values()) - 1) < 1e-9
    chosen = mixing.select(pool_df, plan)
    realised = [r.asDict() for r in chosen.groupBy("modality", "dataset").agg(F.sum("n_tokens").alias("tokens"))
                .collect()]
    rep = mixing.report(plan, realised)
    for m, share in mixing.PHASES[phase].items():
        assert abs(rep["modality"][m]["realised"] - share) < 0.002, (m, rep["modality"][m])
    assert rep["within_tolerance"] and rep["max_abs_error"] < 0.002
    assert abs(rep["realised_tokens"] - 6_000_000) / 6_000_000 < 0.002
    # what the export predicts from the histogram is what select() takes
    from jobs.export import realised as predicted
    hist_m = [{**r, **{f"n_{m}": r["tokens"] if m == r["modality"] else 0 for m in mixing.PHASES["A"]}} for r in hist]
    want, _, n_docs = predicted(plan, hist_m)
    assert sorted((r["modality"], r["dataset"], r["tokens"]) for r in want) == sorted(
        (r["modality"], r["dataset"], r["tokens"]) for r in realised)
    assert n_docs == chosen.select("doc_id").distinct().count()
    # short modalities repeat (recorded), temperature flattens the small text dataset
    assert rep["repeated"] and all(v > 1 for v in rep["repeated"].values())
    text = {k: v for k, v in rep["dataset"].items() if k.startswith("text/")}
    assert text["text/code"]["target"] / text["text/web"]["target"] > 2000 / 40000
    # deterministic for a seed
    again = mixing.select(pool_df, mixing.plan(mixing.pool_of(hist), p, hist)).select("doc_id", "copy").collect()
    assert sorted(again) == sorted(chosen.select("doc_id", "copy").collect())
    with pytest.raises(mixing.MixingError, match="max_epochs"):
        mixing.plan(mixing.pool_of(hist), {**p, "budget_tokens": 1e9})


def test_export_writes_megatron_shards_with_recoverable_boundaries(exported, spark):
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    lake, cfg, summary = exported
    with open(summary["manifest"]) as f:
        man = json.load(f)
    assert man["seq_length"] == 128 and summary["shards"] == len(man["shards"]) >= 2
    gold = {r.doc_id: np.array(r.tokens, np.int32) for r in lake.read("gold.tokens").select("doc_id", "tokens").collect()}
    rows = lake.read("gold.exports").where(F.col("export_id") == man["export_id"]).collect()
    assert len(rows) == summary["shards"]
    held: dict[int, set] = {}
    docs = lake.read("gold.export_docs").where(F.col("export_id") == man["export_id"]).collect()
    for d in docs:
        for s in d.shards:
            held.setdefault(s, set()).add(d.doc_id)
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.rows_kept == summary["docs_selected"] == len(docs) > 0          # counted from what was written
    assert run.rows_in == summary["docs_in_pool"] == run.rows_kept + run.metrics.get("rows_skipped", 0.0)
    assert sum(d.copies for d in docs) >= len(docs)
    total = 0
    for r in rows:
        ds = IndexedDataset(r.path_prefix)
        assert len(ds) == r.n_sequences and all(ds.sequence_lengths == 128)
        spans = pq.read_table(r.path_prefix + ".docs.parquet").to_pandas()
        assert set(spans.doc_id) == held[r.shard] and len(held[r.shard]) == r.n_docs
        assert r.input_versions["gold.tokens"] >= 0
        for seq, group in spans.groupby("seq"):
            tokens = ds[int(seq)]
            for s in group.itertuples():
                piece = tokens[s.start:s.start + s.length]
                ids = gold[s.doc_id]
                if s.piece == s.n_pieces - 1:
                    assert piece[-1] == man["eod"]
                    assert np.array_equal(piece[:-1], ids[s.piece * 128:])
                else:
                    assert np.array_equal(piece, ids[s.piece * 128:(s.piece + 1) * 128])
        total += r.n_tokens
    assert total == summary["tokens"]
    mix = man["mixture"]
    assert mix["missing_modalities"] == ["audio", "image", "video"] and mix["modality"]["text"]["realised"] == 1.0


def test_megatron_gpt_dataset_resets_attention_at_document_boundaries(exported):
    from train.data import build_datasets, load_export
    from train.trainer import init_distributed, shutdown

    lake, cfg, summary = exported
    man = load_export(summary["manifest"])
    init_distributed("cpu", 1)   # the dataset builders ask the process group for ranks
    try:
        ds = build_datasets(man, 128, 200, seed=1, document_masks=True, cache_dir=None)
    finally:
        shutdown()
    found = 0
    for i in range(len(ds)):
        item = ds[i]
        tokens, mask, pos = item["tokens"], item["attention_mask"][0], item["position_ids"]
        eods = (tokens[:-1] == man["eod"]).nonzero().flatten().tolist()
        if not eods:
            continue
        e = eods[0]
        assert pos[e + 1] == 0                      # positions restart after <|eod|>
        assert bool(mask[e + 1, e])                 # attention across the boundary is masked
        assert not bool(mask[e, 0]) and not bool(mask[e + 1, e + 1])
        found += 1
    assert found >= 3, "packed sample sequences hold document boundaries"


def test_export_rerun_is_identical_and_adds_no_rows(exported, spark):
    lake, cfg, first = exported
    n_rows = lake.read("gold.exports").count()
    again = run_export(spark, lake, cfg)
    assert again["already_exported"] and again["export_id"] == first["export_id"]
    assert lake.read("gold.exports").count() == n_rows
    # a run killed before its manifest: the rerun rewrites byte-identical shards and no rows
    before = {r.path_prefix: (r.bin_sha256, r.idx_sha256, r.docs_sha256) for r in lake.read("gold.exports").collect()}
    os.remove(first["manifest"])
    redo = run_export(spark, lake, cfg)
    assert redo["export_id"] == first["export_id"] and not redo.get("already_exported")
    after = {p: tuple(sha256_file(p + ext) for ext in (".bin", ".idx", ".docs.parquet")) for p in before}
    assert after == before and lake.read("gold.exports").count() == n_rows
    assert os.path.exists(first["manifest"])


def test_multimodal_export_meets_the_phase_and_keeps_images_and_slices_whole(multimodal):
    """The sample's four modalities, exported: shares within tolerance, and every shard read
    back through megatron-core: images whole, video and audio cut only at slice boundaries
    with <|cont|>, every piece an <|eod|>-ended document that rebuilds its gold.tokens rows."""
    from megatron.core.datasets.indexed_dataset import IndexedDataset

    from tokenize_jobs.documents import Builder
    from tokenize_jobs.vocab import TextTokenizer, Vocab

    lake, cfg, stages, summary = multimodal
    gold = {(r.doc_id, r.modality): r for r in lake.read("gold.tokens").collect()}
    assert {m for _, m in gold} == {"text", "image", "audio", "video"}
    with open(summary["manifest"]) as f:
        man = json.load(f)
    mix = man["mixture"]
    assert mix["phase"] == "B" and mix["within_tolerance"] and man["seq_length"] == summary["seq_length"] == 1024
    for m, share in mixing.PHASES["B"].items():
        assert abs(mix["modality"][m]["realised"] - share) <= cfg["mixing"]["tolerance"], (m, mix["modality"][m])
    rows = lake.read("gold.exports").where(F.col("export_id") == man["export_id"]).collect()
    assert {r.modality for r in rows} == {"text", "image", "audio", "video"}
    assert all(r.phase == "B" and r.share_realised == {m: v["realised"] for m, v in mix["modality"].items()}
               for r in rows)
    with open(os.path.join(os.path.dirname(summary["manifest"]), "vocab.json")) as f:
        vocab = Vocab(json.load(f))
    sp, eod, cont = vocab.specials, man["eod"], man["cont"]
    build = Builder(vocab, cfg["export"]["documents"]["max_caption_tokens"])
    tracks = {r.doc_id: r for (d, m), r in gold.items() if m == "audio" and r.stage == "video"}
    pieces: dict[str, dict[int, np.ndarray]] = {}
    for r in rows:
        ds = IndexedDataset(r.path_prefix)
        spans = pq.read_table(r.path_prefix + ".docs.parquet").to_pandas()
        for seq, group in spans.groupby("seq"):
            tokens = np.array(ds[int(seq)])           # a copy: the mmap goes with ds
            docs = unpack(tokens, eod, vocab.pad)
            assert len(docs) == len(group)               # boundaries recoverable from <|eod|> alone
            for s, d in zip(group.sort_values("start").itertuples(), docs):
                piece = tokens[s.start:s.start + s.length]
                if r.modality == "text" and s.piece < s.n_pieces - 1:    # a full-sequence piece of a long text
                    assert s.length == 1024 and np.array_equal(piece, d)
                else:                                                  # every media piece is a document
                    assert piece[-1] == eod and np.array_equal(piece[:-1], d)
                    piece = piece[:-1]
                pieces.setdefault((r.modality, s.doc_id, s.copy), {})[s.piece] = (piece, s.n_pieces)
    assert {m for m, _, _ in pieces} == {"text", "image", "audio", "video"}
    tok = TextTokenizer(vocab)
    for (modality, doc_id, _copy), parts in pieces.items():
        n = next(iter(parts.values()))[1]
        assert sorted(parts) == list(range(n))
        ordered = [parts[k][0] for k in range(n)]
        if modality == "image":
            assert n == 1                                # never split
            ids, row = ordered[0], gold[(doc_id, "image")]
            a = int(np.flatnonzero(ids == sp["<|image_start|>"])[0])
            assert np.array_equal(ids[a:a + 258], np.array(row.tokens))
            caption = np.concatenate([ids[:a], ids[a + 258:]])
            if row.text:
                assert caption.size and row.text.startswith(tok.decode(caption))
            else:
                assert caption.size == 0
            continue
        if modality == "text":
            assert np.array_equal(np.concatenate(ordered), np.array(gold[(doc_id, "text")].tokens))
            continue
        row = gold[(doc_id, modality)]
        pair = tracks.get(row.pair_doc_id) if modality == "video" else None
        ids = np.array(row.tokens, np.int32)
        want, cuts = (build.video(ids, None if pair is None else np.array(pair.tokens, np.int32))
                      if modality == "video" else build.audio(ids))
        start, end = sp[f"<|{modality}_start|>"], sp[f"<|{modality}_end|>"]
        inner = []
        for k, ids in enumerate(ordered):
            assert ids[0] == start and ids[-1] == end
            assert (ids[1] == cont) == (k > 0) and (ids[-2] == cont) == (k < n - 1)
            body = ids[1 + (k > 0):ids.size - 1 - (k < n - 1)]
            assert k == 0 or len(inner) + 1 in cuts           # a piece begins at a slice
            inner.extend(body.tolist())
        assert np.array_equal(np.array(inner), want[1:-1])
    assert any(n > 1 for parts in pieces.values() for _, n in parts.values()), "a shot longer than a sequence"
    docs = lake.read("gold.export_docs").where(F.col("export_id") == man["export_id"]).count()
    assert docs == summary["docs_selected"]
    run = lake.read("ops.runs").where(F.col("run_id") == summary["run_id"]).first()
    assert run.rows_in == summary["docs_in_pool"] == run.rows_kept + run.metrics["rows_skipped"]


def test_trainer_logs_a_loss_per_modality_on_the_multimodal_export(multimodal, tmp_path):
    from train.presets import preset
    from train.trainer import train

    lake, cfg, stages, summary = multimodal
    logs = train(preset("tiny", train_steps=4, warmup_steps=1, global_batch_tokens=10 * 1024),
                 summary["manifest"], str(tmp_path / "run"), device="cpu")
    assert len(logs) == 4 and all(np.isfinite(r["loss"]) for r in logs)
    seen = {m for r in logs for m in ("text", "image", "audio", "video") if f"loss_{m}" in r}
    assert seen == {"text", "image", "audio", "video"}, logs
