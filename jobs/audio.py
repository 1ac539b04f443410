"""Audio stage: bronze.media audio files -> silver.media_segments -> gold.tokens.

    lakehouse audio [--dataset NAME ...]

Three steps, each over what the one before left, so a killed run resumes where it stopped
and a rerun changes nothing (MERGE on keys):

1. segments: audio files of bronze.media with neither segments nor a file reject of this
   stage are decoded in one streaming pass (PyAV, soxr), voice activity found (webrtcvad),
   cut into segments, measured and fingerprinted (pipelines/audio/), and the segment rules
   (`audio.rules`, over the stored signals) decide. Segments go to silver.media_segments,
   file and segment rejects to ops.rejects.
2. near-duplicates: kept segments not yet compared are matched against each other and the
   earlier kept ones by fingerprint (pipelines/audio/neardup.py); duplicates go to
   ops.rejects as audio_near_duplicate with the kept segment's id.
3. tokens: kept, non-duplicate segments without a gold.tokens row are encoded with the
   configured codec (tokenize_jobs/audio.py), one file per task row, the model loaded once
   per executor, and counted in gold.token_counts (tokens and seconds).

Accounting: files in = files segmented + files rejected; every segment is kept or rejected,
every kept segment compared, every representative tokenized or rejected.
"""
from __future__ import annotations

import logging
import sys
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.lake import Lake
from jobs.common.media import (
    SEGMENTS,
    count_and_record,
    land_segments,
    pending_representatives,
    rows_of,
    rule_rejects,
    tokens_schema,
)
from jobs.common.runs import StageRun, Timer, pipeline_version, reject_rows, write_rejects
from jobs.tokenize import publish_vocab
from pipelines.audio import neardup
from pipelines.audio.stage import (
    ERROR_REASONS,
    FILE_COLUMNS,
    SIGNAL_NAMES,
    TOKENS,
    TokenParams,
    analyze_fn,
    params_from_config,
    tokens_fn,
)
from pipelines.audio.stage import SEGMENTS as SEGMENT_ROWS
from pipelines.clean.rules import check_signals, rules_from_config

log = logging.getLogger("lakehouse")
STAGE = "audio"


def check_config(cfg: dict) -> None:
    """Rules over known signals; codebooks, codes and time markers that fit the vocabulary."""
    a, v = cfg["audio"], cfg["tokenize"]["vocab"]
    rules = rules_from_config(a["rules"])
    check_signals(rules, set(SIGNAL_NAMES))
    silero_only = {"silero_ratio", "vad_agreement"}
    if not a["vad"]["silero"] and any(r.signal in silero_only for r in rules):
        raise ValueError(f"audio.rules use {sorted(silero_only)}, which only audio.vad.silero=true measures")
    t = a["tokenizer"]
    if t["codebooks"] > v["audio_levels"]:
        raise ValueError(f"audio.tokenizer.codebooks={t['codebooks']} exceeds tokenize.vocab.audio_levels="
                         f"{v['audio_levels']}")
    if v["audio_codes"] != 1024:
        raise ValueError("the audio codecs have 1,024 codes per level: tokenize.vocab.audio_codes must be 1024")
    if a["vad"]["max_s"] / t["marker_s"] > v["timestamps"]:
        raise ValueError(f"segments of up to audio.vad.max_s={a['vad']['max_s']} s need more than "
                         f"tokenize.vocab.timestamps={v['timestamps']} markers of {t['marker_s']} s")
    if t["codec"] == "encodec":
        from tokenize_jobs.audio import ENCODEC_CODEBOOKS
        if t["codebooks"] not in ENCODEC_CODEBOOKS:
            raise ValueError(f"Encodec 24 kHz takes {sorted(ENCODEC_CODEBOOKS)} codebooks, not {t['codebooks']}")
        if not t["checkpoint"]:
            raise ValueError("audio.tokenizer.codec=encodec needs audio.tokenizer.checkpoint (a local path)")


def pending_files(lake: Lake, datasets: list[str] | None) -> DataFrame:
    """Ids of the audio files with neither segments nor a reject of this stage (ids only: the
    anti-joins never shuffle the bytes)."""
    files = lake.read("bronze.media").where(F.col("media_type") == "audio")
    if datasets:
        files = files.where(F.col("dataset").isin(datasets))
    files = files.select("doc_id")
    if lake.exists(SEGMENTS):
        files = files.join(lake.read(SEGMENTS).select(F.col("parent_ids")[0].alias("doc_id")).distinct(),
                           "doc_id", "left_anti")
    if lake.exists("ops.rejects"):
        files = files.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                           "left_anti")
    return files


def segment_files(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    a = cfg["audio"]
    parents = pending_files(lake, datasets).localCheckpoint()    # fixed now: the writes below change what is pending
    files_in = parents.count()
    if not files_in:
        return {"files_in": 0, "files_segmented": 0, "files_rejected": 0, "segments": 0}
    n_tasks = a["partitions"] or min(files_in, spark.sparkContext.defaultParallelism * 4)
    analyze = analyze_fn(params_from_config(a), rules_from_config(a["rules"]))
    out = (rows_of(lake, parents, files_in, FILE_COLUMNS, a["broadcast_ids"]).repartition(n_tasks)
           .mapInArrow(analyze, from_arrow_schema(SEGMENT_ROWS))
           .localCheckpoint())     # computed once, no lineage: what is pending changes as the writes land
    got = land_segments(lake, run, STAGE, "audio", out, parents, files_in, a["error_budget"], ERROR_REASONS)
    if a["vad"]["silero"]:     # where webrtcvad and silero-vad disagree (music, noise called speech)
        agree = out.where("segment >= 0").select(F.col("signals")["vad_agreement"].alias("a"))
        r = agree.agg(F.avg("a").alias("mean"), F.sum((F.col("a") < 0.8).cast("int")).alias("low")).first()
        run.metric("vad_agreement_mean", r["mean"] or 0.0)
        run.metric("vad_disagreeing_segments", r["low"] or 0)
    run.metric("segment_seconds", got["seconds"])
    return {"files_in": files_in, "files_segmented": got["segmented"], "files_rejected": got["rejected"],
            "segments": got["segments"]}


def mark_duplicates(lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    p = cfg["audio"]["near_dup"]
    seg = lake.read(SEGMENTS).where((F.col("media_type") == "audio") & (F.col("decision") == "kept"))
    new = seg.where(F.col("dup_keep").isNull())
    if datasets:
        new = new.where(F.col("dataset").isin(datasets))
    new = new.select("doc_id", "source_uri", "source_record", "dataset", "fingerprint", "signals").localCheckpoint()
    n_new = new.count()
    if not n_new:
        return {"compared": 0, "near_duplicates": 0}
    if p["enabled"]:
        index = seg.where(F.col("dup_keep")).select("doc_id", "fingerprint", "signals", "dup_cluster_id")
        marks = neardup.assign(new, index if not index.isEmpty() else None, p).localCheckpoint()
    else:
        marks = new.select("doc_id", F.col("doc_id").alias("dup_cluster_id"),
                           F.lit(1).cast("long").alias("dup_cluster_size"),
                           F.lit(True).alias("dup_keep"), F.lit(None).cast("string").alias("dup_ref"),
                           F.lit(None).cast("double").alias("dup_ber"))
    dups = marks.where(~F.col("dup_keep")).join(new, "doc_id")
    n_dup = dups.count()
    detail = F.concat(F.lit("bit error rate "), F.format_number("dup_ber", 3), F.lit(" against "), F.col("dup_ref"))
    landed = write_rejects(lake, reject_rows(dups, STAGE, run.run_id, F.lit("audio_near_duplicate"), detail, "dup_ref"),
                           n_dup, STAGE)
    run.expect("ops.rejects (audio_near_duplicate)", n_dup, landed)
    updated = lake.merge_update(SEGMENTS, marks, ["dup_cluster_id", "dup_cluster_size", "dup_keep", "dup_ref",
                                                  "dup_ber"])
    run.expect(f"{SEGMENTS} near-duplicate marks", n_new, updated)
    run.metric("near_duplicates", n_dup)
    return {"compared": n_new, "near_duplicates": n_dup}


def tokenize_segments(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    a = cfg["audio"]
    vocab = publish_vocab(lake, cfg)
    seg = pending_representatives(lake, STAGE, "audio", datasets)
    seg = seg.localCheckpoint() if seg is not None else None
    n_seg = seg.count() if seg is not None else 0
    if not n_seg:
        return {"segments_to_tokenize": 0, "token_rows": 0, "new_tokens": 0}
    per_file = (seg.select(F.col("parent_ids")[0].alias("doc_id"), F.struct("doc_id", "start_s", "end_s").alias("s"))
                .groupBy("doc_id").agg(F.collect_list("s").alias("segments")).localCheckpoint())
    n_files = per_file.count()
    per_file = rows_of(lake, per_file, n_files, ["doc_id", "source_uri", "content"], a["broadcast_ids"], "inner")
    tp = TokenParams(a["tokenizer"], vocab.manifest, a["file"]["chunk_s"])
    out = (per_file.repartition(a["partitions"] or min(n_files, spark.sparkContext.defaultParallelism * 4))
           .mapInArrow(tokens_fn(tp), tokens_schema(TOKENS))
           .localCheckpoint())
    try:
        t0 = time.monotonic()
        stats = out.agg(F.count("*").alias("n"), F.sum(F.col("reason").isNotNull().cast("int")).alias("rej"),
                        F.sum("n_tokens").alias("tokens"), F.sum("seconds").alias("seconds"),
                        F.sum("encode_s").alias("encode_s")).first()
        work_s = time.monotonic() - t0          # decode + encode in the tasks, wall
        n_out, n_rej = stats["n"], stats["rej"] or 0
        run.expect("audio segments tokenized or rejected", n_seg, n_out)
        good = out.where(F.col("reason").isNull()).join(seg, "doc_id").select(
            "doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256", "parent_ids",
            "ingest_run_id", F.lit(run.run_id).alias("run_id"), F.lit(STAGE).alias("stage"),
            F.current_timestamp().alias("processed_at"), F.lit(pipeline_version()).alias("pipeline_version"),
            F.lit("audio").alias("modality"), "segment", "lang", F.lit(None).cast("string").alias("quality_tier"),
            "tokens", "n_tokens", F.lit(vocab.version).alias("vocab_version"), "start_s", "end_s", "tokenizer")
        _, landed = lake.insert_counted("gold.tokens", good, n_out - n_rej, source_persisted=True)
        run.expect("gold.tokens (audio)", n_out - n_rej, landed)
        bad = out.where(F.col("reason").isNotNull()).join(
            seg.select("doc_id", "source_uri", "source_record", "dataset"), "doc_id")
        run.expect("ops.rejects (audio tokens)", n_rej,
                   write_rejects(lake, reject_rows(bad, STAGE, run.run_id, "reason", "detail"), n_rej, STAGE))
        count_and_record(lake, run, vocab.version)
    finally:
        out.unpersist()
    audio_s = stats["seconds"] or 0.0
    run.metric("new_tokens", stats["tokens"] or 0)
    run.metric("audio_seconds_tokenized", audio_s)
    run.metric("tokenize_realtime_factor", audio_s / work_s if work_s else 0.0)
    run.metric("codec_seconds", stats["encode_s"] or 0.0)      # inside the tasks: the codec's own time
    return {"segments_to_tokenize": n_seg, "token_rows": landed, "token_rejects": n_rej,
            "new_tokens": stats["tokens"] or 0, "hours": round(audio_s / 3600, 4), "vocab_version": vocab.version}


def run_audio(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("bronze.media", SEGMENTS, "gold.tokens")
        timer = Timer(run)
        t0 = time.monotonic()
        with timer("segment_seconds_wall"):
            files = segment_files(spark, lake, cfg, run, datasets)
            files["segments_rejected"] = rule_rejects(lake, run, STAGE, "audio")
        with timer("near_dup_seconds"):
            dups = mark_duplicates(lake, cfg, run, datasets)
        with timer("tokenize_seconds"):
            toks = tokenize_segments(spark, lake, cfg, run, datasets)
        run.count(rows_in=files["files_in"], kept=files["files_segmented"], rejected=files["files_rejected"],
                  written=files["segments"])
        summary = {"run_id": run.run_id, **files, **dups, **toks, "seconds": round(time.monotonic() - t0, 2)}
    log.info("audio done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_audio, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
