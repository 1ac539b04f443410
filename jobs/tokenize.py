"""Tokenize stage: text of silver.redacted_documents -> gold.tokens in the unified vocabulary.

    lakehouse tokenize [--dataset NAME ...]

Reads the documents of silver.redacted_documents (what dedup kept and the PII stage let
through, PII replaced by placeholders) that have no gold.tokens row yet, encodes them
with Qwen's BPE (tokenize_jobs/vocab.py) per Arrow batch, and MERGEs (doc_id, modality,
segment) rows with the vocabulary version. The vocabulary manifest is written to
`<lake>/gold/_vocab/<version>.json`. A config whose vocabulary differs from the one
gold.tokens was made with is refused (a new vocabulary needs a new table, never a remap).
Token counts of each run's new rows by modality, language, dataset and tier go to
gold.token_counts (the pool's totals are the sum over runs) and to the run's metrics.
"""
from __future__ import annotations

import json
import logging
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.increment import source_rows
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version, reject_rows, write_rejects
from schemas.lineage import LINEAGE_COLUMNS, lineage_checks, lineage_failures
from tokenize_jobs import vocab as vocab_mod
from tokenize_jobs.text import output_schema, tokenize_fn

log = logging.getLogger("lakehouse")
STAGE = "tokenize"
SOURCE = "silver.redacted_documents"    # what dedup kept and the PII stage let through
CARRIED = ["doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256", "parent_ids",
           "ingest_run_id", "lang", "quality_tier"]


def vocab_rel(version: str) -> str:
    return f"gold/_vocab/{version}.json"


def publish_vocab(lake: Lake, cfg: dict) -> vocab_mod.Vocab:
    """Build the configured vocabulary, refuse a clash with gold.tokens, write its manifest."""
    vocab = vocab_mod.from_config(cfg)
    if lake.exists("gold.tokens"):
        other = [r[0] for r in lake.read("gold.tokens").where(F.col("vocab_version") != vocab.version)
                 .select("vocab_version").distinct().limit(3).collect()]
        if other:
            raise vocab_mod.VocabError(
                f"gold.tokens holds tokens of {other}, this config builds {vocab.version}: a new vocabulary "
                "needs a new lake (or the old tokens removed), never a silent remap")
    lake.write_text(vocab_rel(vocab.version), json.dumps(vocab.manifest, indent=1, sort_keys=True))
    return vocab


def pending_text(lake: Lake, run: StageRun, cfg: dict, datasets: list[str] | None):
    """Documents that go forward (dedup kept them) with neither a gold.tokens text row nor a
    tokenize reject, looked for among those changed since the last tokenize run
    (jobs/common/increment.py)."""
    docs = source_rows(lake, run, SOURCE, ("gold.tokens", "ops.rejects"), config_keys=("tokenize.require_dedup",))
    if cfg["tokenize"]["require_dedup"]:
        docs = docs.where(F.col("dup_keep"))
    if datasets:
        docs = docs.where(F.col("dataset").isin(datasets))
    if lake.exists("gold.tokens"):
        done = lake.read("gold.tokens").where("modality = 'text'").select("doc_id")
        docs = docs.join(done, "doc_id", "left_anti")
    if lake.exists("ops.rejects"):
        docs = docs.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                         "left_anti")
    return docs


def uncounted_runs(lake: Lake, run_id: str) -> list[str]:
    """This run and the earlier runs that may hold gold.tokens rows no gold.token_counts row
    counts: those of a stage writing gold.tokens that did not succeed (killed or failed
    between its write and its count; a run that succeeded counted its own) and have no
    counts. From ops.runs (a row per run), so counting never scans gold.tokens whole."""
    from jobs.stages import PIPELINE

    writers = [s.name for s in PIPELINE if "gold.tokens" in s.writes]
    runs = (lake.read("ops.runs").where(F.col("stage").isin(writers) & (F.col("status") != "succeeded")
                                        & (F.col("run_id") != run_id)).select("run_id"))
    if lake.exists("gold.token_counts"):
        runs = runs.join(lake.read("gold.token_counts").select("run_id"), "run_id", "left_anti")
    return sorted({run_id, *(r.run_id for r in runs.distinct().collect())})


def count_tokens(lake: Lake, run_id: str, vocab_version: str) -> list[dict]:
    """gold.token_counts rows for every run not counted yet (this one, or one killed between
    its gold.tokens write and its count), each under its own run_id; returns this run's
    rows. Reads only those runs' rows: each run writes files of its own, which Delta's
    run_id statistics let the scan skip. The pool's totals are the sum over runs."""
    gold = lake.read("gold.tokens").where((F.col("vocab_version") == vocab_version)
                                          & F.col("run_id").isin(uncounted_runs(lake, run_id)))
    counts = (gold.groupBy("run_id", "modality", F.coalesce("lang", F.lit("und")).alias("lang"), "dataset",
                           F.coalesce("quality_tier", F.lit("none")).alias("quality_tier"))
              .agg(F.count("*").alias("docs"), F.sum("n_tokens").alias("tokens"),
                   F.sum(F.col("end_s") - F.col("start_s")).alias("seconds"))
              .select("*", F.lit(lake.version("gold.tokens")).alias("gold_version"),
                      F.lit(vocab_version).alias("vocab_version"), F.current_timestamp().alias("counted_at")))
    lake.merge_insert("gold.token_counts", counts)
    return [r.asDict() for r in lake.read("gold.token_counts").where(F.col("run_id") == run_id).collect()]


def run_tokenize(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    """Encode and write in one pass: the input is counted first (with its empty texts and the
    carried lineage, one aggregation), then Delta's insert-only MERGE reads the encoder's
    output once (it does not copy the source of an insert-only MERGE: materializeSourceTimeMs
    ~0), and the counts come from the rows written."""
    t = cfg["tokenize"]
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("gold.tokens")
        vocab = publish_vocab(lake, cfg)
        timer = Timer(run)
        src = pending_text(lake, run, cfg, datasets).select(*CARRIED, "n_chars", "text")
        empty = F.col("n_chars") == 0       # the PII stage's length of the text: the count reads no text
        pre = src.agg(F.count("*").alias("n"), F.sum(F.when(empty, 1).otherwise(0)).alias("empty"),
                      *lineage_checks(src, "gold.tokens", [c for c in CARRIED if c in LINEAGE_COLUMNS])
                      ).collect()[0].asDict()
        lineage_failures(pre, "gold.tokens")       # the columns gold.tokens adds are set below
        rows_in, n_empty = pre["n"], pre["empty"] or 0      # counted from the input, not from the outcome
        t0 = time.monotonic()
        todo = src.where(~empty)
        if t["partitions"]:
            todo = todo.repartition(t["partitions"])
        with timer("encode_write_seconds"):
            todo = todo.drop("n_chars")
            rows = (todo.mapInArrow(tokenize_fn(vocab, t["threads"]), output_schema(todo.schema))
                    .where("n_tokens > 0")      # never false for a non-empty text: a row lost shows in the count
                    .select(*CARRIED, F.lit(run.run_id).alias("run_id"), F.lit(STAGE).alias("stage"),
                            F.current_timestamp().alias("processed_at"),
                            F.lit(pipeline_version()).alias("pipeline_version"), F.lit("text").alias("modality"),
                            F.lit(0).alias("segment"), "tokens", "n_tokens",
                            F.lit(vocab.version).alias("vocab_version")))
            written, kept = lake.insert_counted("gold.tokens", rows, rows_in - n_empty, check=False)
        with timer("reject_seconds"):
            rej = reject_rows(src.where(empty), STAGE, run.run_id, F.lit("empty_text"), F.lit("no text to encode"))
            rejected = write_rejects(lake, rej, n_empty, STAGE)
        with timer("count_seconds"):
            counts = count_tokens(lake, run.run_id, vocab.version) if lake.exists("gold.tokens") else []
        seconds = time.monotonic() - t0
        new_tokens = sum(c["tokens"] for c in counts)
        by_mod: dict[str, int] = {}
        by_lang: dict[str, int] = {}
        for c in counts:
            by_mod[c["modality"]] = by_mod.get(c["modality"], 0) + c["tokens"]
            by_lang[c["lang"]] = by_lang.get(c["lang"], 0) + c["tokens"]
        run.metric("new_tokens", new_tokens)
        run.metric("tokens_per_s", new_tokens / seconds if seconds else 0.0)
        for k, v in by_mod.items():
            run.metric(f"tokens.modality.{k}", v)
        for k, v in by_lang.items():
            run.metric(f"tokens.lang.{k}", v)
        run.count(rows_in=rows_in, kept=kept, rejected=rejected, written=written)
        summary = {"run_id": run.run_id, "vocab_version": vocab.version, "rows_in": rows_in,
                   "kept": kept, "rejected": rejected, "written": written, "new_tokens": new_tokens,
                   "tokens_by_modality": by_mod, "seconds": round(seconds, 2)}
    log.info("tokenize done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_tokenize, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
