"""Video stage: bronze.media videos -> shots in silver.media_segments -> video and audio tokens.

    lakehouse video [--dataset NAME ...]

Three steps, each over what the one before left, so a killed run resumes where it stopped
and a rerun changes nothing (MERGE on keys):

1. shots: videos of bronze.media with neither shots nor a file reject of this stage are
   decoded in one streaming pass (PyAV), cut into shots by PySceneDetect, each shot measured
   and its keyframe hashed, the audio track measured by webrtcvad (pipelines/video/), and
   the shot rules (`video.rules`) decide. Shots go to silver.media_segments (parent: the
   video), file and shot rejects to ops.rejects.
2. near-duplicates: videos whose kept shots were not compared yet are matched, shot by
   shot, against each other and the earlier representatives (pipelines/video/neardup.py);
   a duplicate video is a video_near_duplicate reject naming the kept one, and its shots
   are marked.
3. tokens: the kept shots of representative videos without a gold.tokens row: frames
   sampled at `video.tokens.fps` by timestamp and encoded by the image stage's VQ into the
   video range (tokenize_jobs/video.py), and the audio track of the same time range by the
   audio stage's codec, with time markers every slice on both; one video and one audio row
   per shot, paired by pair_doc_id.

Accounting: videos in = videos cut into shots + videos rejected; every shot is kept or
rejected, every kept shot's video compared, every representative shot tokenized or rejected.
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
from jobs.image import tokenizer_folder
from jobs.tokenize import publish_vocab
from pipelines.audio.stage import SEGMENTS as SHOT_ROWS
from pipelines.clean.rules import check_signals, rules_from_config
from pipelines.video import neardup
from pipelines.video.stage import (
    ERROR_REASONS,
    FILE_COLUMNS,
    SIGNAL_NAMES,
    TOKENS,
    TokenParams,
    analyze_fn,
    params_from_config,
    tokens_fn,
)

log = logging.getLogger("lakehouse")
STAGE = "video"


def check_config(cfg: dict) -> None:
    """Rules over known signals; slices whose audio frames are whole; shots that fit the markers."""
    v, voc, a = cfg["video"], cfg["tokenize"]["vocab"], cfg["audio"]["tokenizer"]
    check_signals(rules_from_config(v["rules"]), set(SIGNAL_NAMES))
    t = v["tokens"]
    slice_s = t["slice_frames"] / t["fps"]
    audio_frames = slice_s * 75.0          # both codecs: 75 frames/s
    if abs(audio_frames - round(audio_frames)) > 1e-6:
        raise ValueError(f"video.tokens: a slice of {t['slice_frames']} frames at {t['fps']} fps is {slice_s:.4f} s "
                         f"= {audio_frames:g} audio frames (75/s); choose slice_frames so that it is whole")
    if v["shots"]["max_shot_s"] / slice_s > voc["timestamps"]:
        raise ValueError(f"shots of up to video.shots.max_shot_s={v['shots']['max_shot_s']} s need more than "
                         f"tokenize.vocab.timestamps={voc['timestamps']} slice markers")
    if a["codebooks"] > voc["audio_levels"]:
        raise ValueError(f"audio.tokenizer.codebooks={a['codebooks']} exceeds tokenize.vocab.audio_levels")
    if cfg["image"]["tokenizer"]["size"] % 16:
        raise ValueError("image.tokenizer.size must be a multiple of 16 (the VQ's factor)")


def _shots(lake: Lake) -> DataFrame:
    return lake.read(SEGMENTS).where(F.col("media_type") == "video")


def pending_videos(lake: Lake, datasets) -> DataFrame:
    """Ids of the videos with neither shots nor a reject of this stage (ids only: the
    anti-joins never shuffle the bytes)."""
    media = lake.read("bronze.media").where(F.col("media_type") == "video")
    if datasets:
        media = media.where(F.col("dataset").isin(datasets))
    media = media.select("doc_id")
    if lake.exists(SEGMENTS):
        media = media.join(_shots(lake).select(F.col("parent_ids")[0].alias("doc_id")).distinct(), "doc_id",
                           "left_anti")
    if lake.exists("ops.rejects"):
        media = media.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                           "left_anti")
    return media


def cut_shots(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    v = cfg["video"]
    parents = pending_videos(lake, datasets).localCheckpoint()   # fixed now: the writes below change what is pending
    n_in = parents.count()
    if not n_in:
        return {"videos_in": 0, "videos_cut": 0, "videos_rejected": 0, "shots": 0}
    todo = rows_of(lake, parents, n_in, FILE_COLUMNS, v["broadcast_ids"])
    n_tasks = v["partitions"] or min(n_in, spark.sparkContext.defaultParallelism * 4)
    out = (todo.repartition(n_tasks)
           .mapInArrow(analyze_fn(params_from_config(v), rules_from_config(v["rules"])), from_arrow_schema(SHOT_ROWS))
           .localCheckpoint())     # computed once: what is pending changes as the writes land
    got = land_segments(lake, run, STAGE, "video", out, parents, n_in, v["error_budget"], ERROR_REASONS)
    run.metric("video_seconds", got["seconds"])
    return {"videos_in": n_in, "videos_cut": got["segmented"], "videos_rejected": got["rejected"],
            "shots": got["segments"]}


def mark_duplicates(lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    p = cfg["video"]["near_dup"]
    if not lake.exists(SEGMENTS):
        return {"videos_compared": 0, "near_duplicate_videos": 0}
    kept = _shots(lake).where(F.col("decision") == "kept").withColumn("video", F.col("parent_ids")[0])
    new = kept.where(F.col("dup_keep").isNull())
    if datasets:
        new = new.where(F.col("dataset").isin(datasets))
    new = new.select("doc_id", "video", "fingerprint", "signals").localCheckpoint()
    n_new = new.count()
    if not n_new:
        return {"videos_compared": 0, "near_duplicate_videos": 0}
    if p["enabled"]:
        index = kept.where(F.col("dup_keep")).select("doc_id", "video", "fingerprint", "signals", "dup_cluster_id")
        marks = neardup.assign(new, index if not index.isEmpty() else None, p).localCheckpoint()
    else:
        marks = new.select(F.col("video").alias("doc_id")).distinct().select(
            "doc_id", F.col("doc_id").alias("dup_cluster_id"), F.lit(1).cast("long").alias("dup_cluster_size"),
            F.lit(True).alias("dup_keep"), F.lit(None).cast("string").alias("dup_ref"),
            F.lit(None).cast("int").alias("dup_hamming"))
    n_videos = marks.count()
    videos = lake.read("bronze.media").select("doc_id", "source_uri", F.col("source_uri").alias("source_record"),
                                              "dataset")
    dups = marks.where(~F.col("dup_keep")).join(videos, "doc_id")
    n_dup = dups.count()
    detail = F.concat(F.lit("shots matched; best pHash distance "), F.col("dup_hamming").cast("string"),
                      F.lit(" to "), F.col("dup_ref"))
    landed = write_rejects(lake, reject_rows(dups, STAGE, run.run_id, F.lit("video_near_duplicate"), detail,
                                             "dup_ref"), n_dup, STAGE)
    run.expect("ops.rejects (video_near_duplicate)", n_dup, landed)
    shot_marks = new.select("doc_id", "video").join(marks.withColumnRenamed("doc_id", "video"), "video").drop("video")
    updated = lake.merge_update(SEGMENTS, shot_marks, ["dup_cluster_id", "dup_cluster_size", "dup_keep", "dup_ref",
                                                       "dup_hamming"])
    run.expect(f"{SEGMENTS} shot near-duplicate marks", n_new, updated)
    run.metric("near_duplicate_videos", n_dup)
    return {"videos_compared": n_videos, "near_duplicate_videos": n_dup}


def tokenize_shots(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    v = cfg["video"]
    vocab = publish_vocab(lake, cfg)
    seg = pending_representatives(lake, STAGE, "video", datasets)
    seg = seg.localCheckpoint() if seg is not None else None
    n_seg = seg.count() if seg is not None else 0
    if not n_seg:
        return {"shots_to_tokenize": 0, "token_rows": 0, "new_tokens": 0}
    shot = F.struct("doc_id", "start_s", "end_s", (F.col("signals")["has_audio"] > 0).alias("has_audio"),
                    F.col("signals")["audio_offset_s"].alias("audio_offset_s"))
    per_video = (seg.select(F.col("parent_ids")[0].alias("doc_id"), shot.alias("s"))
                 .groupBy("doc_id").agg(F.collect_list("s").alias("shots")).localCheckpoint())
    n_videos = per_video.count()
    n_sound = seg.where(F.col("signals")["has_audio"] > 0).count()
    todo = rows_of(lake, per_video, n_videos, ["doc_id", "source_uri", "content"], v["broadcast_ids"], "inner")
    tp = TokenParams(v["tokens"], cfg["image"]["tokenizer"], tokenizer_folder(cfg), cfg["audio"]["tokenizer"],
                     vocab.manifest, cfg["audio"]["file"]["chunk_s"])
    out = (todo.repartition(v["partitions"] or min(n_videos, spark.sparkContext.defaultParallelism * 4))
           .mapInArrow(tokens_fn(tp), tokens_schema(TOKENS)).localCheckpoint())
    t0 = time.monotonic()
    by = {r["modality"]: r for r in out.groupBy("modality").agg(
        F.count("*").alias("n"), F.sum(F.col("reason").isNotNull().cast("int")).alias("rej"),
        F.sum("n_tokens").alias("tokens"), F.sum("seconds").alias("seconds"), F.sum("frames").alias("frames"),
        F.sum("encode_s").alias("encode_s")).collect()}
    work_s = time.monotonic() - t0
    n_out = sum(r["n"] for r in by.values())
    n_rej = sum(r["rej"] or 0 for r in by.values())
    run.expect("video shots and their audio tokenized or rejected", n_seg + n_sound, n_out)
    lineage = seg.select("doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256",
                         "parent_ids", "ingest_run_id", "segment", "lang")
    shot_of = F.when(F.col("modality") == "video", F.col("o.doc_id")).otherwise(F.col("o.pair_doc_id"))
    joined = out.alias("o").join(lineage.alias("l"), shot_of == F.col("l.doc_id"))
    good = joined.where(F.col("reason").isNull()).select(
        F.col("o.doc_id").alias("doc_id"), "source_uri", "source_record", "dataset", "license", "content_sha256",
        "parent_ids", "ingest_run_id", F.lit(run.run_id).alias("run_id"), F.lit(STAGE).alias("stage"),
        F.current_timestamp().alias("processed_at"), F.lit(pipeline_version()).alias("pipeline_version"),
        "modality", "segment", "lang", F.lit(None).cast("string").alias("quality_tier"), "tokens", "n_tokens",
        F.lit(vocab.version).alias("vocab_version"), "start_s", "end_s", "tokenizer",
        F.lit(None).cast("string").alias("text"), F.col("o.pair_doc_id").alias("pair_doc_id"))
    _, landed = lake.insert_counted("gold.tokens", good, n_out - n_rej, source_persisted=True)
    run.expect("gold.tokens (video and its audio)", n_out - n_rej, landed)
    bad = joined.where(F.col("reason").isNotNull()).select(F.col("o.doc_id").alias("doc_id"), "source_uri",
                                                           "source_record", "dataset", "reason", "detail")
    run.expect("ops.rejects (video tokens)", n_rej,
               write_rejects(lake, reject_rows(bad, STAGE, run.run_id, "reason", "detail"), n_rej, STAGE))
    count_and_record(lake, run, vocab.version, by_modality=True)
    vid = by.get("video")
    vid_s = (vid["seconds"] or 0.0) if vid else 0.0
    vid_tokens = (vid["tokens"] or 0) if vid else 0
    run.metric("new_tokens", sum(r["tokens"] or 0 for r in by.values()))
    run.metric("video_seconds_tokenized", vid_s)
    run.metric("video_tokens_per_second", vid_tokens / vid_s if vid_s else 0.0)
    run.metric("frames_tokenized", (vid["frames"] or 0) if vid else 0)
    run.metric("tokenize_realtime_factor", vid_s / work_s if work_s else 0.0)
    run.metric("encoder_seconds", sum(r["encode_s"] or 0.0 for r in by.values()))
    return {"shots_to_tokenize": n_seg, "token_rows": landed, "token_rejects": n_rej,
            "new_tokens": sum(r["tokens"] or 0 for r in by.values()), "video_hours": round(vid_s / 3600, 4),
            "vocab_version": vocab.version}


def run_video(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("bronze.media", SEGMENTS, "gold.tokens")
        timer = Timer(run)
        t0 = time.monotonic()
        with timer("shots_seconds"):
            vids = cut_shots(spark, lake, cfg, run, datasets)
            vids["shots_rejected"] = rule_rejects(lake, run, STAGE, "video")
        with timer("near_dup_seconds"):
            dups = mark_duplicates(lake, cfg, run, datasets)
        with timer("tokenize_seconds"):
            toks = tokenize_shots(spark, lake, cfg, run, datasets)
        run.count(rows_in=vids["videos_in"], kept=vids["videos_cut"], rejected=vids["videos_rejected"],
                  written=vids["shots"])
        summary = {"run_id": run.run_id, **vids, **dups, **toks, "seconds": round(time.monotonic() - t0, 2)}
    log.info("video done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_video, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
