"""Text tokenization and export throughput: the Spark stage against the raw encoder.

    python bench/tokenize_bench.py [--docs 100000] [--cores 2]

On the same ~2 KB zh/en/multilingual documents (bench/dedup_bench.make_docs):
- raw: tiktoken's encode_batch with the same Qwen ranks, one thread, one process (the
  fastest encoder of this vocabulary; HF tokenizers is ~3x slower here);
- Spark encode: the tokenize mapInArrow alone (read silver, encode, build Arrow lists),
  written to Spark's noop sink, per core;
- the whole tokenize stage (encode and MERGE gold.tokens in one pass, token counts), per
  core: from its encode to its counts (`stage`), and the run's whole duration from
  ops.runs with finding and counting its input (`stage_run`);
- export: mix, pack into 4096-token sequences and write Megatron shards, MB/s.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, save, write_silver  # noqa: E402
from bench.dedup_bench import make_docs  # noqa: E402


def raw_rate(texts: list[str]) -> dict:
    from tokenize_jobs.vocab import TextTokenizer, build

    tok = TextTokenizer(build())
    tok.encode_batch(texts[:200])
    t = time.monotonic()
    n = sum(len(x) for x in tok.encode_batch(texts, threads=1))
    sec = time.monotonic() - t
    t = time.monotonic()
    tok.enc.encode_ordinary_batch(texts, num_threads=1)
    ordinary = n / (time.monotonic() - t)
    return {"tokens": n, "tiktoken_encode_batch_tok_s": round(n / sec), "tiktoken_encode_ordinary_batch_tok_s":
            round(ordinary), "bytes_per_token": round(sum(len(x.encode()) for x in texts) / n, 2)}


def spark_rates(docs, work: Path, cores: int) -> dict:
    from pyspark.sql import functions as F

    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.export import run_export
    from jobs.tokenize import run_tokenize
    from tokenize_jobs.text import output_schema, tokenize_fn
    from tokenize_jobs.vocab import from_config

    root = work / "lake-tokenize"
    shutil.rmtree(root, ignore_errors=True)
    cfg = bench_config(root, cores)
    cfg["export"] = {**cfg.get("export", {}), "out_dir": str(work / "exports"), "seq_length": 4096}
    cfg["mixing"] = {**cfg["mixing"], "missing": "renormalize"}     # a text-only pool
    spark = get_spark(cfg, "bench-tokenize")
    lake = Lake(spark, cfg["lake"]["root"])
    write_silver(spark, lake, docs, cores, table="silver.redacted_documents", dup_keep=True)
    silver = lake.read("silver.redacted_documents").select("doc_id", "text").persist()
    silver.count()
    vocab = from_config(cfg)
    t = time.monotonic()
    out = silver.mapInArrow(tokenize_fn(vocab), output_schema(silver.schema))
    n_tokens = out.agg(F.sum("n_tokens")).first()[0]
    enc_s = time.monotonic() - t
    silver.unpersist()
    with PeakMemory() as mem:
        tok = run_tokenize(spark, lake, cfg)
        if tok["kept"] != len(docs):
            raise SystemExit(f"tokenize kept {tok['kept']} of {len(docs)} documents: the bench measured nothing")
        exp = run_export(spark, lake, cfg)
    runs = {r.stage: r for r in lake.read("ops.runs").collect()}
    spark.stop()
    return {"spark_encode_tok_s_per_core": round(n_tokens / enc_s / cores), "spark_encode_seconds": round(enc_s, 1),
            "stage_tok_s_per_core": round(tok["new_tokens"] / tok["seconds"] / cores),
            "stage_seconds": tok["seconds"], "stage_run_seconds": round(runs["tokenize"].duration_s, 1),
            "stage_run_tok_s_per_core": round(tok["new_tokens"] / runs["tokenize"].duration_s / cores),
            "tokenize_steps": {k: round(v, 1) for k, v in runs["tokenize"].metrics.items() if k.endswith("_seconds")},
            "export": {"seconds": exp["seconds"], "mb": exp["mb"], "mb_per_s": round(exp["mb"] / exp["seconds"], 1),
                       "shards": exp["shards"], "sequences": exp["sequences"], "pad_fraction": exp["pad_fraction"],
                       "run_seconds": round(runs["export"].duration_s, 1)},
            "tokens": tok["new_tokens"], "peak_rss_gib": round(mem.peak / 2**30, 2)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--work", default=str(ROOT / "build" / "bench"))
    a = ap.parse_args()
    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    docs = make_docs(a.docs)
    raw = raw_rate([t for _, _, t in docs])
    sp = spark_rates(docs, work, a.cores)
    result = {"docs": a.docs, "cores": a.cores, "raw": raw, "spark": sp,
              "ratio_spark_encode_vs_raw": round(sp["spark_encode_tok_s_per_core"] / raw["tiktoken_encode_batch_tok_s"], 3),
              "ratio_stage_vs_raw": round(sp["stage_tok_s_per_core"] / raw["tiktoken_encode_batch_tok_s"], 3),
              "ratio_stage_run_vs_raw": round(sp["stage_run_tok_s_per_core"] / raw["tiktoken_encode_batch_tok_s"], 3)}
    print(save(f"tokenize-{a.docs}", result))
    import json
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
