"""PII stage throughput: the Spark stage against presidio's AnalyzerEngine in a Python loop.

    python bench/pii_bench.py [--docs 100000] [--cores 2] [--loop-docs 5000]

On the same ~2 KB zh/en/multilingual documents (bench/dedup_bench.make_docs), a fifth of
them with 1-3 PII values (pipelines/pii/evaluation generators) written in:
- presidio plain: `AnalyzerEngine` with the no-op NLP engine and presidio's predefined
  recognizers (what a user gets offline out of the box; no Chinese recognizers), called
  once per document in a Python loop, one core, on the first --loop-docs documents;
- ours plain: our engine (pipelines/pii/analyzer.py) in the same loop;
- the Spark stage: `lakehouse pii` on all documents (license gate, detection, redaction,
  audit, MERGE of silver.redacted_documents and silver.pii_audit), docs/s per core.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, save, write_silver  # noqa: E402
from bench.dedup_bench import make_docs  # noqa: E402


def with_pii(docs, share: float = 0.2, seed: int = 3):
    """A `share` of the documents get 1-3 sentences with PII values at paragraph breaks."""
    from corpora.pii_eval import EN, ZH

    rng = random.Random(seed)
    out, planted = [], 0
    for doc_id, lang, text in docs:
        if rng.random() < share:
            paras = text.split("\n\n")
            for _ in range(rng.randint(1, 3)):
                _, gen, templates = rng.choice(ZH if lang == "zh" else EN)
                paras.insert(rng.randrange(len(paras) + 1), rng.choice(templates).replace("{v}", gen(rng)))
                planted += 1
            text = "\n\n".join(paras)
        out.append((doc_id, lang, text))
    return out, planted


def presidio_plain():
    import tldextract
    from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NoOpNlpEngine

    extractor = tldextract.TLDExtract(suffix_list_urls=())       # bundled suffix list: no download
    tldextract.extract = extractor
    nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "no_op"}])
    nlp.load()
    registry = RecognizerRegistry(supported_languages=["en"])
    registry.load_predefined_recognizers(languages=["en"], nlp_engine=nlp)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])


def loop_rate(engine, docs, lang_of) -> dict:
    engine.analyze(docs[0][2], language=lang_of(docs[0][1]))
    t, found = time.monotonic(), 0
    for _, lang, text in docs:
        found += len(engine.analyze(text, language=lang_of(lang)))
    sec = time.monotonic() - t
    return {"docs": len(docs), "seconds": round(sec, 2), "docs_per_s": round(len(docs) / sec, 1), "spans": found}


def spark_rate(docs, work: Path, cores: int) -> dict:
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.pii import run_pii

    root = work / "lake-pii"
    shutil.rmtree(root, ignore_errors=True)
    cfg = bench_config(root, cores)
    spark = get_spark(cfg, "bench-pii")
    lake = Lake(spark, cfg["lake"]["root"])
    write_silver(spark, lake, docs, cores, dup_keep=True)
    with PeakMemory() as mem:
        t = time.monotonic()
        summary = run_pii(spark, lake, cfg)
        sec = time.monotonic() - t
    run = lake.read("ops.runs").where(f"run_id = '{summary['run_id']}'").first()
    spark.stop()
    return {"docs": len(docs), "cores": cores, "seconds": round(sec, 2),
            "docs_per_s_per_core": round(len(docs) / sec / cores, 1),
            "detect_seconds": round(run.metrics.get("detect_seconds", 0.0), 2),
            "write_seconds": round(run.metrics.get("write_seconds", 0.0), 2),
            "peak_rss_gib": round(mem.peak / 2**30, 2), "kept": summary["kept"], "rejected": summary["rejected"],
            "entities": summary["entities"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--docs", type=int, default=100_000)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--loop-docs", type=int, default=5000)
    ap.add_argument("--work", default=str(ROOT / "build/bench"))
    args = ap.parse_args()
    docs, planted = with_pii(make_docs(args.docs))
    mean_bytes = sum(len(t.encode()) for _, _, t in docs) / len(docs)
    print(f"{len(docs)} documents, mean {mean_bytes:.0f} bytes, {planted} PII values planted", flush=True)
    from pipelines.pii.analyzer import build_analyzer

    sub = docs[:args.loop_docs]
    plain = loop_rate(presidio_plain(), sub, lambda lang: "en")
    print("presidio plain loop:", plain, flush=True)
    ours = loop_rate(build_analyzer(), sub, lambda lang: lang if lang in ("en", "zh") else "en")
    print("our engine, plain loop:", ours, flush=True)
    stage = spark_rate(docs, Path(args.work), args.cores)
    print("spark stage:", stage, flush=True)
    result = {"docs": len(docs), "mean_bytes": round(mean_bytes), "planted": planted, "presidio_plain_loop": plain,
              "our_engine_loop": ours, "spark_stage": stage,
              "stage_vs_presidio_loop": round(stage["docs_per_s_per_core"] / plain["docs_per_s"], 2),
              "stage_vs_our_loop": round(stage["docs_per_s_per_core"] / ours["docs_per_s"], 2)}
    print(f"-> {save(f'pii-{len(docs)}', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
