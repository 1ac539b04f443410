"""Dedup benchmark: near-duplicate quality, and throughput of signatures and the whole stage.

    python bench/dedup_bench.py --docs 100000 [--cores 2] [--skip-datatrove]

Quality: a labelled set built by controlled edits (word substitutions for English,
character substitutions for Chinese) of real text at several edit rates; truth is the exact
Jaccard of the shingle sets >= 0.75. Our decision (share an LSH band, then estimated
Jaccard >= verify_threshold) is scored next to datasketch's MinHashLSH (threshold 0.75,
num_perm 112, params (14, 8)) fed the same signatures.

Throughput on ~2 KB documents (10% near and 5% exact duplicates planted): our signatures in
one process and through Spark, the whole stage through Spark (signatures, buckets,
components, marking, writes), datasketch MinHash.bulk and the per-document update loop
(shingling included), and DataTrove's MinhashDedupSignature in one process.
"""
from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, save, write_parquet, write_silver  # noqa: E402
from corpora.sample import load_texts  # noqa: E402
from pipelines.dedup.minhash import shingle_hash32, shingles, tokens  # noqa: E402
from pipelines.dedup.stage import hasher_from_config  # noqa: E402

RATES = (0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.4)


def edit(text: str, rate: float, rng: random.Random, cjk: bool) -> str:
    if cjk:
        return "".join(c if rng.random() > rate else rng.choice("的一是在不了有和人这中大为上个国") for c in text)
    return " ".join(w if rng.random() > rate else rng.choice(["alpha", "beta", "gamma", "delta"]) for w in text.split(" "))


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def quality(seed: int = 0, per_rate: int = 60) -> dict:
    from datasketch import MinHash, MinHashLSH

    texts, rng, h = load_texts(), random.Random(seed), hasher_from_config()
    report = {}
    for lang in ("en", "zh"):
        paras = texts[lang]
        pairs = []  # (a, b, true_jaccard)
        for rate in RATES:
            for _ in range(per_rate):
                s = rng.randrange(0, len(paras) - 4)
                base = "\n\n".join(paras[s:s + 4])
                pairs.append((base, edit(base, rate, rng, lang == "zh")))
        for _ in range(per_rate * 2):  # unrelated pairs
            i, j = rng.sample(range(len(paras) - 4), 2)
            pairs.append(("\n\n".join(paras[i:i + 4]), "\n\n".join(paras[j:j + 4])))
        ours_tp = ours_fp = ours_fn = ds_tp = ds_fp = ds_fn = 0
        for a, b in pairs:
            ta, tb = tokens(a, lang), tokens(b, lang)
            true = jaccard(set(shingles(ta, 5)), set(shingles(tb, 5))) >= 0.75
            sa, sb = h.signatures([h.doc_shingles(a, lang), h.doc_shingles(b, lang)])
            ba, bb = h.band_hashes(np.stack([sa, sb]))
            ours = bool(set(ba) & set(bb)) and float(np.mean(sa == sb)) >= 0.75
            lsh = MinHashLSH(threshold=0.75, num_perm=112, params=(14, 8))
            ma = MinHash(num_perm=112, seed=1, hashfunc=shingle_hash32, hashvalues=sa, scheme="affine32")
            mb = MinHash(num_perm=112, seed=1, hashfunc=shingle_hash32, hashvalues=sb, scheme="affine32")
            lsh.insert("a", ma)
            ds = "a" in lsh.query(mb)
            ours_tp += ours and true; ours_fp += ours and not true; ours_fn += (not ours) and true  # noqa: E702
            ds_tp += ds and true; ds_fp += ds and not true; ds_fn += (not ds) and true  # noqa: E702

        def pr(tp, fp, fn):
            return {"precision": round(tp / (tp + fp), 4) if tp + fp else None,
                    "recall": round(tp / (tp + fn), 4) if tp + fn else None}
        report[lang] = {"pairs": len(pairs), "positives": ours_tp + ours_fn, "ours": pr(ours_tp, ours_fp, ours_fn),
                        "datasketch_lsh": pr(ds_tp, ds_fp, ds_fn)}
    return report


def make_docs(n: int, seed: int = 0) -> list[tuple[str, str, str]]:
    """(doc_id, lang, text) of ~2 KB, 10% near and 5% exact duplicates of earlier documents."""
    texts, rng = load_texts(), random.Random(seed)
    langs = sorted(texts)
    docs: list[tuple[str, str, str]] = []
    for i in range(n):
        r = rng.random()
        if docs and r < 0.05:
            _, lang, text = docs[rng.randrange(len(docs))]
        elif docs and r < 0.15:
            _, lang, text = docs[rng.randrange(len(docs))]
            text = edit(text, 0.03, rng, lang in ("zh", "ja"))
        else:
            lang = rng.choice(["en", "zh"] * 3 + langs)
            paras, parts, size = texts[lang], [], 0
            while size < 2000:
                p = paras[rng.randrange(len(paras))]
                parts.append(p)
                size += len(p.encode())
            text = "\n\n".join(parts)
        docs.append((f"d{i:08d}", lang, text))
    return docs


def throughput_local(docs) -> dict:
    from datasketch import MinHash

    h = hasher_from_config()
    t = time.monotonic()
    h.band_hashes(h.signatures([h.doc_shingles(text, lang) for _, lang, text in docs]))
    ours = len(docs) / (time.monotonic() - t)
    t = time.monotonic()
    MinHash.bulk([shingles(tokens(text, lang), 5) for _, lang, text in docs], num_perm=112, seed=1)
    bulk = len(docs) / (time.monotonic() - t)
    sub = docs[: min(len(docs), 5000)]
    t = time.monotonic()
    for _, lang, text in sub:
        m = MinHash(num_perm=112, seed=1)
        for sh in shingles(tokens(text, lang), 5):
            m.update(sh)
    loop = len(sub) / (time.monotonic() - t)
    return {"ours_1proc": round(ours), "datasketch_bulk_1proc": round(bulk), "datasketch_update_loop_1proc": round(loop)}


def spark_stage(docs, n: int, work: Path, cores: int) -> dict:
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.dedup import run_dedup
    from pipelines.dedup.stage import signatures
    root = work / "lake-dedup"
    shutil.rmtree(root, ignore_errors=True)
    cfg = bench_config(root, cores)
    spark = get_spark(cfg, "bench-dedup")
    lake = Lake(spark, cfg["lake"]["root"])
    write_silver(spark, lake, docs, cores)
    silver = lake.read("silver.documents").persist()
    silver.count()
    t = time.monotonic()
    signatures(silver, hasher_from_config(cfg)).write.format("noop").mode("overwrite").save()
    sig_s = time.monotonic() - t
    silver.unpersist()
    with PeakMemory() as mem:
        summary = run_dedup(spark, lake, cfg)
    run = lake.read("ops.runs").filter(f"run_id = '{summary['run_id']}'").first()
    spark.stop()
    return {"signatures_per_s_per_core": round(n / sig_s / cores), "stage_per_s_per_core": round(n / summary["seconds"] / cores),
            "stage_seconds": summary["seconds"], "steps_seconds": {k: round(v, 1) for k, v in run.metrics.items()
                                                                   if k.endswith("_seconds")},
            "dup_rate_found": summary["dup_rate_before"], "dropped": summary["dropped"],
            "peak_rss_gib": round(mem.peak / 2**30, 2)}


def datatrove_signatures(docs, work: Path) -> dict:
    from bench.clean_bench import datatrove_python

    py = datatrove_python()
    folder = work / "dedup-jsonl"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    with open(folder / "docs.jsonl", "w") as fh:
        for d, _lang, text in docs:
            fh.write(json.dumps({"id": d, "text": text}, ensure_ascii=False) + "\n")
    code = r'''
import sys, time, tempfile, json, re
from datatrove.executor import LocalPipelineExecutor
from datatrove.utils.word_tokenizers import WordTokenizer
class RegexTokenizer(WordTokenizer):  # NLTK/spaCy need downloads; a regex is also faster (conservative)
    def word_tokenize(self, text): return re.findall(r"\w+", text)
    def sent_tokenize(self, text): return [text]
    def span_tokenize(self, text): return [(0, len(text))]
from datatrove.pipeline.readers import JsonlReader
from datatrove.pipeline.dedup import MinhashDedupSignature
from datatrove.pipeline.dedup.minhash import MinhashConfig
from datatrove.utils.hashing import HashConfig
cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8)
out = tempfile.mkdtemp()
t = time.monotonic()
LocalPipelineExecutor(pipeline=[JsonlReader(sys.argv[1]), MinhashDedupSignature(output_folder=out, config=cfg, language=RegexTokenizer())],
                      tasks=1, workers=1, logging_dir=tempfile.mkdtemp()).run()
print(json.dumps({"seconds": time.monotonic() - t}))
'''
    res = subprocess.run([str(py), "-c", code, str(folder)], capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(res.stderr[-3000:])
    secs = json.loads(res.stdout.strip().splitlines()[-1])["seconds"]
    return {"docs_per_s_1proc": round(len(docs) / secs)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--local-docs", type=int, default=20_000, help="documents for the one-process comparisons")
    ap.add_argument("--skip-datatrove", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--work", default="build/bench")
    args = ap.parse_args()
    work = (ROOT / args.work).resolve()
    result = {"docs": args.docs, "cores": args.cores}
    if not args.skip_quality:
        result["quality"] = quality()
        print(json.dumps(result["quality"], indent=2), flush=True)
    docs = make_docs(args.docs)
    result["mean_doc_bytes"] = round(sum(len(t.encode()) for _, _, t in docs) / len(docs))
    result["local"] = throughput_local(docs[: args.local_docs])
    print(json.dumps(result["local"]), flush=True)
    if not args.skip_datatrove:
        result["datatrove_signature"] = datatrove_signatures(docs[: args.local_docs], work)
    n = len(docs)
    folder = write_parquet(docs, work / f"dedup-input-{n}")
    del docs                                   # the Spark run reads the Parquet files, not driver memory
    result["spark"] = spark_stage(folder, n, work, args.cores)
    print(json.dumps(result, indent=2))
    print(f"saved {save(f'dedup-{args.docs}', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
