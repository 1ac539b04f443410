"""Multimodal export throughput: a gold.tokens pool of all four modalities -> phase shares,
documents (image-text pairs, video time-slice groups), packing, Megatron shards.

The pool is the sample's media mix scaled `--scale` times (default 100: the sample's 748
text documents, 10 speech segments, 15 images and 14 shots with their audio tracks become
74,800 / 1,000 / 1,500 / 1,400 + 1,400 rows), written straight into gold.tokens with the real
token layouts (tokenize_jobs/audio.py, video.py, the image stage's) over random codes: the
export's cost depends on the layout and lengths, not on the code values. Timed: the whole
`lakehouse export` (documents, plan, select, pack, write, tables, manifest) at the phase's
sequence length, its plan and write steps, shard MB/s, tokens/s per core, the mixture's
error and the padding.

    .venv/bin/python bench/export_bench.py --scale 100 --phase B [--budget-tokens 3e7]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, fresh_lake, save  # noqa: E402

SAMPLE = {"text": 748, "audio": 10, "image": 15, "video": 14}   # gold.tokens rows of `make sample`
WORDS = ["a", "photo", "of", "the", "old", "harbour", "at", "dusk", "with", "boats", "and", "a", "red", "lighthouse", "in", "winter", "light"]


def rows_fn(manifest: dict, seed: int):
    """mapInArrow body: ids (kind, i) -> gold.tokens rows with real layouts, random codes."""
    import pyarrow as pa

    from tokenize_jobs import audio as audio_tok
    from tokenize_jobs import video as video_tok
    from tokenize_jobs.vocab import Vocab

    def run(batches):
        vocab = Vocab(manifest)
        sp = vocab.specials
        v_lay, a_lay = video_tok.Layout(vocab, 6), audio_tok.Layout(vocab, 8, 1.0)
        img0 = vocab.codebook("image")[0]
        for b in batches:
            out = []
            for kind, i in zip(b.column("kind").to_pylist(), b.column("i").to_pylist()):
                rng = np.random.default_rng([seed, hash(kind) % 1000, i])
                base = {"doc_id": f"{kind}-{i:07d}", "dataset": f"bench-{kind}", "lang": ["en", "zh", "de"][i % 3],
                        "quality_tier": ["high", "mid", "low"][i % 3] if kind == "text" else None, "segment": 0,
                        "parent": f"{kind}-file-{i // 4}", "start_s": None, "end_s": None, "text": None,
                        "pair_doc_id": None}
                if kind == "text":
                    ids = rng.integers(0, 151_000, int(rng.integers(60, 600)))
                    out.append({**base, "modality": "text", "tokens": ids})
                elif kind == "audio":
                    secs = float(rng.uniform(3, 20))
                    ids = a_lay.ids(rng.integers(0, 1024, (8, int(secs * 75))))
                    out.append({**base, "modality": "audio", "tokens": ids, "start_s": 0.0, "end_s": secs})
                elif kind == "image":
                    ids = np.concatenate([[sp["<|image_start|>"]], rng.integers(0, 16384, 256) + img0,
                                          [sp["<|image_end|>"]]])
                    text = " ".join(rng.choice(WORDS, int(rng.integers(4, 16)))) if i % 3 else None
                    out.append({**base, "modality": "image", "tokens": ids, "text": text})
                else:                       # a shot and its audio track, paired
                    secs = float(rng.uniform(1, 10))
                    v = v_lay.ids(rng.integers(0, 16384, (int(round(secs * 6)), 16, 16)))
                    a = a_lay.ids(rng.integers(0, 1024, (8, int(secs * 75))))
                    shot = {**base, "start_s": 0.0, "end_s": secs}
                    out.append({**shot, "modality": "video", "tokens": v, "pair_doc_id": f"track-{i:07d}"})
                    out.append({**shot, "doc_id": f"track-{i:07d}", "modality": "audio", "tokens": a,
                                "pair_doc_id": base["doc_id"]})
            cols = {k: [r[k] for r in out] for k in out[0]} if out else {}
            if cols:
                cols["tokens"] = [np.asarray(t, np.int32) for t in cols["tokens"]]
                yield pa.RecordBatch.from_pydict(cols, schema=SCHEMA)
    return run


def _schema():
    import pyarrow as pa

    return pa.schema([("doc_id", pa.string()), ("dataset", pa.string()), ("lang", pa.string()),
                      ("quality_tier", pa.string()), ("segment", pa.int32()), ("parent", pa.string()),
                      ("start_s", pa.float64()), ("end_s", pa.float64()), ("text", pa.string()),
                      ("pair_doc_id", pa.string()), ("modality", pa.string()),
                      ("tokens", pa.list_(pa.int32()))])


SCHEMA = _schema()


def write_pool(spark, lake, cfg, scale: int, cores: int) -> dict:
    from pyspark.sql import functions as F

    from jobs.common.media import tokens_schema
    from jobs.tokenize import publish_vocab

    vocab = publish_vocab(lake, cfg)
    kinds = spark.createDataFrame([(k, n * scale) for k, n in SAMPLE.items()], "kind string, n long")
    ids = (kinds.select("kind", F.explode(F.sequence(F.lit(0), F.col("n") - 1)).alias("i"))
           .repartition(cores * 8, "kind", "i"))
    rows = ids.mapInArrow(rows_fn(vocab.manifest, 7), tokens_schema(SCHEMA))
    now = F.current_timestamp()
    gold = rows.select(
        "doc_id", F.concat(F.lit("file:/bench/"), "parent").alias("source_uri"), F.col("doc_id").alias("source_record"),
        "dataset", F.lit("CC0-1.0").alias("license"), F.col("doc_id").alias("content_sha256"),
        F.array("parent").alias("parent_ids"), F.lit("bench").alias("ingest_run_id"), F.lit("bench").alias("run_id"),
        F.when(F.col("pair_doc_id").isNotNull(), F.lit("video")).otherwise(F.col("modality")).alias("stage"),
        now.alias("processed_at"), F.lit("bench").alias("pipeline_version"), "modality", "segment", "lang",
        "quality_tier", "tokens", F.size("tokens").cast("long").alias("n_tokens"),
        F.lit(vocab.version).alias("vocab_version"), "start_s", "end_s", F.lit("bench-random-codes").alias("tokenizer"),
        "text", "pair_doc_id")
    lake.merge_insert("gold.tokens", gold, check=False)
    return {r["modality"]: {"rows": r["rows"], "tokens": r["tokens"]} for r in lake.read("gold.tokens")
            .groupBy("modality").agg(F.count("*").alias("rows"), F.sum("n_tokens").alias("tokens")).collect()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", type=int, default=100)
    ap.add_argument("--phase", default="B")
    ap.add_argument("--budget-tokens", type=float, help="default: the largest the pool supplies unrepeated")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "build" / "bench-export"))
    a = ap.parse_args()
    from jobs.common.config import updated
    from jobs.export import run_export

    work = Path(a.work)
    spark, lake, cfg = fresh_lake(work / "lake", "bench-export", a.cores)
    cfg = updated(cfg, {"mixing": {"phase": a.phase, "budget_tokens": a.budget_tokens},
                        "export": {"out_dir": str(work / "exports")}})
    t = time.monotonic()
    pool = write_pool(spark, lake, cfg, a.scale, a.cores)
    pool_s = time.monotonic() - t
    with PeakMemory() as mem:
        exp = run_export(spark, lake, cfg)
    run = lake.read("ops.runs").where(f"run_id = '{exp['run_id']}'").first()
    with open(exp["manifest"]) as f:
        mix = json.load(f)["mixture"]
    spark.stop()
    result = {"scale": a.scale, "phase": a.phase, "cores": a.cores, "budget_tokens": a.budget_tokens, "pool": pool, "pool_write_seconds": round(pool_s, 1),
              "export": {k: exp[k] for k in ("seconds", "mb", "shards", "sequences", "seq_length", "tokens",
                                              "docs_in_pool", "docs_selected", "pad_fraction")},
              "run_seconds": round(run.duration_s, 1),
              "steps": {k: round(v, 1) for k, v in run.metrics.items() if k.endswith("_seconds")},
              "mb_per_s": round(exp["mb"] / exp["seconds"], 1),
              "tokens_per_s_per_core": round(exp["tokens"] / run.duration_s / a.cores),
              "shares": {m: v for m, v in mix["modality"].items()}, "token_positions": mix["token_positions"],
              "modality_max_abs_error": round(mix["modality_max_abs_error"], 5), "repeated": mix["repeated"],
              "peak_rss_gib": round(mem.peak / 2**30, 2)}
    print(save(f"export-x{a.scale}-{a.phase}" + (f"-{a.budget_tokens:.0e}" if a.budget_tokens else ""), result))
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
