"""Image stage: bronze.media images -> silver.media_segments -> gold.tokens.

    lakehouse image [--dataset NAME ...]

Three steps, each over what the one before left, so a killed run resumes where it stopped
and a rerun changes nothing (MERGE on keys):

1. analyze: images of bronze.media with neither a silver.media_segments row nor a reject of
   this stage are decoded (Pillow), measured and hashed (pHash + dHash) where their bytes
   are scanned (never shuffled); the small measured rows are then paired with their text
   (the alt text or figcaption of <img> elements on crawled pages that point at their URL:
   bronze.documents.image_refs) and judged by `image.rules`. One row per image (doc_id = the
   bronze doc_id, segment 0); undecodable images are rejects only.
2. near-duplicates: kept images not yet compared are matched against each other and the
   earlier representatives (pipelines/image/neardup.py); duplicates become
   image_near_duplicate rejects naming the kept image.
3. tokens: representatives without a gold.tokens row are resized to the tokenizer's input
   and encoded by the VQ model in batches (model loaded once per executor): <|image_start|>
   256 codes <|image_end|>, the text pair in gold.tokens.text.

Accounting: images in = images kept + images rejected (decode errors and rules); every kept
image is compared, every representative tokenized or rejected.
"""
from __future__ import annotations

import logging
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.entry import dataset_stage_main, run_main
from jobs.common.lake import Lake
from jobs.common.media import SEGMENTS, count_and_record, pending_representatives, rows_of, rule_rejects, tokens_schema
from jobs.common.runs import StageRun, Timer, check_error_budget, pipeline_version, reject_rows, write_rejects
from jobs.tokenize import publish_vocab
from pipelines.clean.rules import check_signals, rules_from_config
from pipelines.image import neardup
from pipelines.image.stage import (
    ERROR_REASONS,
    IMAGES,
    MEASURED,
    READ_COLUMNS,
    SIGNAL_NAMES,
    TOKENS,
    JudgeParams,
    TokenParams,
    judge_fn,
    measure_fn,
    tokens_fn,
)

log = logging.getLogger("lakehouse")
STAGE = "image"


def check_config(cfg: dict) -> None:
    i = cfg["image"]
    check_signals(rules_from_config(i["rules"]), set(SIGNAL_NAMES))
    if i["tokenizer"]["size"] % 16:
        raise ValueError(f"image.tokenizer.size={i['tokenizer']['size']} is not a multiple of 16 (the VQ's factor)")


def tokenizer_folder(cfg: dict) -> str:
    """The VQ model's folder: the configured checkpoint, or the one `make setup` trained."""
    from tokenize_jobs.image_vq_train import default_folder

    folder = Path(cfg["image"]["tokenizer"]["checkpoint"] or default_folder())
    if not (folder / "model.pt").exists():
        raise FileNotFoundError(f"image tokenizer: no model.pt in {folder} (train the project's with "
                                "`python -m tokenize_jobs.image_vq_train train`, or set image.tokenizer.checkpoint)")
    return str(folder)


def _images(lake: Lake) -> DataFrame:
    return lake.read(SEGMENTS).where(F.col("media_type") == "image")


def text_pairs(lake: Lake) -> DataFrame:
    """Per image URL linked from a crawled page: its text (the longest figcaption or alt text;
    captions win ties), where it came from, the page, and how many pages link it."""
    docs = lake.read("bronze.documents")
    if "image_refs" not in docs.columns:
        return lake.spark.createDataFrame([], "url string, text string, text_source string, pair_doc_id string, "
                                              "pages long")
    refs = (docs.where(F.col("image_refs").isNotNull())
            .select(F.col("doc_id").alias("pair_doc_id"), F.explode("image_refs").alias("r"))
            .select("pair_doc_id", F.col("r.url").alias("url"), F.col("r.alt").alias("alt"),
                    F.col("r.caption").alias("caption")))
    texts = (refs.where(F.col("caption").isNotNull()).select("url", "pair_doc_id", F.col("caption").alias("text"),
                                                              F.lit("caption").alias("text_source"))
             .unionByName(refs.where(F.col("alt").isNotNull()).select(
                 "url", "pair_doc_id", F.col("alt").alias("text"), F.lit("alt").alias("text_source"))))
    best = Window.partitionBy("url").orderBy(F.length("text").desc(), F.col("text_source").desc(), "pair_doc_id")
    chosen = texts.withColumn("_r", F.row_number().over(best)).where("_r = 1").drop("_r")
    pages = refs.groupBy("url").agg(F.countDistinct("pair_doc_id").alias("pages"))
    return pages.join(chosen, "url", "left")


def pending_images(lake: Lake, datasets) -> DataFrame:
    """Ids of the images with neither a silver.media_segments row nor a reject of this stage
    (ids only: the anti-joins never shuffle the bytes)."""
    media = lake.read("bronze.media").where(F.col("media_type") == "image")
    if datasets:
        media = media.where(F.col("dataset").isin(datasets))
    media = media.select("doc_id")
    if lake.exists(SEGMENTS):
        media = media.join(_images(lake).select("doc_id"), "doc_id", "left_anti")
    if lake.exists("ops.rejects"):
        media = media.join(lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id"), "doc_id",
                           "left_anti")
    return media


@contextmanager
def arrow_batch_rows(spark: SparkSession, rows: int):
    """Arrow batches of `rows` rows while image bytes flow to Python (the session's 2,000 rows
    of ~200 KB images are 400 MB batches: measured 25% slower than 256)."""
    key = "spark.sql.execution.arrow.maxRecordsPerBatch"
    before = spark.conf.get(key)
    spark.conf.set(key, str(rows))
    try:
        yield
    finally:
        spark.conf.set(key, before)


def _segment_rows(out: DataFrame, run_id: str) -> DataFrame:
    return out.where(F.col("fingerprint").isNotNull()).select(
        "doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256",
        F.array("doc_id").alias("parent_ids"), "ingest_run_id", F.lit(run_id).alias("run_id"),
        F.lit(STAGE).alias("stage"), F.current_timestamp().alias("processed_at"),
        F.lit(pipeline_version()).alias("pipeline_version"), F.lit("image").alias("media_type"),
        F.lit(0).alias("segment"), F.lit(0.0).alias("start_s"), F.lit(0.0).alias("end_s"), "lang", "signals",
        "fingerprint", "decision", "reason", "text", "text_source", "pair_doc_id")


def analyze_images(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    from quality_models.models import lid_path

    i = cfg["image"]
    parents = pending_images(lake, datasets).localCheckpoint()   # fixed now: the writes below change what is pending
    n_in = parents.count()
    if not n_in:
        return {"images_in": 0, "images_kept": 0, "images_rejected": 0}
    lid = str(lid_path(i["lid_model"] or cfg["clean"]["lid"]["model"]))
    spark.sparkContext.addFile(lid)
    todo = rows_of(lake, parents, n_in, READ_COLUMNS, i["broadcast_ids"])
    if i["partitions"]:
        todo = todo.repartition(i["partitions"])
    measured = todo.mapInArrow(measure_fn(i["file"]["max_pixels"]), from_arrow_schema(MEASURED))
    judged = measured.join(text_pairs(lake), "url", "left")
    with arrow_batch_rows(spark, i["arrow_batch_rows"]):
        out = (judged.mapInArrow(judge_fn(JudgeParams(lid), rules_from_config(i["rules"])),
                                 from_arrow_schema(IMAGES))
               .localCheckpoint())     # computed once: what is pending changes as the writes land
    by = (out.select(F.col("fingerprint").isNotNull().alias("read"), "reason",
                     F.col("text").isNotNull().cast("int").alias("t")).groupBy("read", "reason")
          .agg(F.count("*").alias("n"), F.sum("t").alias("paired")).collect())
    stats = {(r["read"], r["reason"]): r["n"] for r in by}
    paired = sum(r["paired"] for r in by if r["read"])
    unread = {reason: n for (read, reason), n in stats.items() if not read}
    check_error_budget(STAGE, unread, n_in, i["error_budget"], ERROR_REASONS)
    n_rows = sum(n for (read, _), n in stats.items() if read)
    _, landed = lake.insert_counted(SEGMENTS, _segment_rows(out, run.run_id), n_rows, source_persisted=True)
    run.expect(SEGMENTS, n_rows, landed)
    n_unread = sum(unread.values())
    rej = reject_rows(out.where(F.col("fingerprint").isNull()), STAGE, run.run_id, "reason", "detail")
    run.expect("ops.rejects (unreadable images)", n_unread, write_rejects(lake, rej, n_unread, STAGE))
    rule_rejects(lake, run, STAGE, "image")
    kept = (_images(lake).where(F.col("decision") == "kept").join(parents, "doc_id", "left_semi").count()
            if lake.exists(SEGMENTS) else 0)
    rejected = (lake.read("ops.rejects").where(F.col("stage") == STAGE).select("doc_id").distinct()
                .join(parents, "doc_id", "left_semi").count())
    for (_read, reason), n in stats.items():
        if reason:
            run.metric(f"dropped.{reason}", n)
    run.metric("images_with_text", paired)
    return {"images_in": n_in, "images_kept": kept, "images_rejected": rejected, "images_with_text": paired}


def mark_duplicates(lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    p = cfg["image"]["near_dup"]
    if not lake.exists(SEGMENTS):
        return {"compared": 0, "near_duplicates": 0}
    kept = _images(lake).where(F.col("decision") == "kept")
    new = kept.where(F.col("dup_keep").isNull())
    if datasets:
        new = new.where(F.col("dataset").isin(datasets))
    new = new.select("doc_id", "source_uri", "source_record", "dataset", "fingerprint", "signals").localCheckpoint()
    n_new = new.count()
    if not n_new:
        return {"compared": 0, "near_duplicates": 0}
    if p["enabled"]:
        index = kept.where(F.col("dup_keep")).select("doc_id", "fingerprint", "signals", "dup_cluster_id")
        marks = neardup.assign(new, index if not index.isEmpty() else None, p).localCheckpoint()
    else:
        marks = new.select("doc_id", F.col("doc_id").alias("dup_cluster_id"),
                           F.lit(1).cast("long").alias("dup_cluster_size"), F.lit(True).alias("dup_keep"),
                           F.lit(None).cast("string").alias("dup_ref"), F.lit(None).cast("int").alias("dup_hamming"))
    dups = marks.where(~F.col("dup_keep")).join(new, "doc_id")
    n_dup = dups.count()
    detail = F.concat(F.lit("pHash distance "), F.col("dup_hamming").cast("string"), F.lit(" to "), F.col("dup_ref"))
    landed = write_rejects(lake, reject_rows(dups, STAGE, run.run_id, F.lit("image_near_duplicate"), detail,
                                             "dup_ref"), n_dup, STAGE)
    run.expect("ops.rejects (image_near_duplicate)", n_dup, landed)
    updated = lake.merge_update(SEGMENTS, marks, ["dup_cluster_id", "dup_cluster_size", "dup_keep", "dup_ref",
                                                  "dup_hamming"])
    run.expect(f"{SEGMENTS} image near-duplicate marks", n_new, updated)
    run.metric("near_duplicates", n_dup)
    return {"compared": n_new, "near_duplicates": n_dup}


def tokenize_images(spark: SparkSession, lake: Lake, cfg: dict, run: StageRun, datasets) -> dict:
    i = cfg["image"]
    vocab = publish_vocab(lake, cfg)
    seg = pending_representatives(lake, STAGE, "image", datasets)
    seg = seg.localCheckpoint() if seg is not None else None
    n_seg = seg.count() if seg is not None else 0
    if not n_seg:
        return {"images_to_tokenize": 0, "token_rows": 0, "new_tokens": 0}
    folder = tokenizer_folder(cfg)
    todo = rows_of(lake, seg.select("doc_id"), n_seg, ["doc_id", "source_uri", "source_record", "content",
                                                        "source_offset"], i["broadcast_ids"])
    tp = TokenParams(i["tokenizer"], folder, vocab.manifest, i["file"]["max_pixels"])
    with arrow_batch_rows(spark, i["arrow_batch_rows"]):
        out = (todo.repartition(i["partitions"] or min(n_seg, spark.sparkContext.defaultParallelism * 4))
               .mapInArrow(tokens_fn(tp), tokens_schema(TOKENS)).localCheckpoint())
    t0 = time.monotonic()
    stats = out.agg(F.count("*").alias("n"), F.sum(F.col("reason").isNotNull().cast("int")).alias("rej"),
                    F.sum("n_tokens").alias("tokens"), F.sum("encode_s").alias("encode_s")).first()
    work_s = time.monotonic() - t0
    n_out, n_rej = stats["n"], stats["rej"] or 0
    run.expect("images tokenized or rejected", n_seg, n_out)
    good = out.where(F.col("reason").isNull()).join(seg, "doc_id").select(
        "doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256", "parent_ids",
        "ingest_run_id", F.lit(run.run_id).alias("run_id"), F.lit(STAGE).alias("stage"),
        F.current_timestamp().alias("processed_at"), F.lit(pipeline_version()).alias("pipeline_version"),
        F.lit("image").alias("modality"), "segment", "lang", F.lit(None).cast("string").alias("quality_tier"),
        "tokens", "n_tokens", F.lit(vocab.version).alias("vocab_version"), "tokenizer", "text", "pair_doc_id")
    _, landed = lake.insert_counted("gold.tokens", good, n_out - n_rej, source_persisted=True)
    run.expect("gold.tokens (image)", n_out - n_rej, landed)
    bad = out.where(F.col("reason").isNotNull()).join(seg.select("doc_id", "source_uri", "source_record", "dataset"),
                                                      "doc_id")
    run.expect("ops.rejects (image tokens)", n_rej,
               write_rejects(lake, reject_rows(bad, STAGE, run.run_id, "reason", "detail"), n_rej, STAGE))
    count_and_record(lake, run, vocab.version, hours=False)
    n_ok = n_out - n_rej
    run.metric("new_tokens", stats["tokens"] or 0)
    run.metric("images_tokenized", n_ok)
    run.metric("tokens_per_image", (stats["tokens"] or 0) / n_ok if n_ok else 0.0)
    run.metric("tokenize_images_per_s", n_ok / work_s if work_s else 0.0)
    run.metric("encoder_seconds", stats["encode_s"] or 0.0)      # inside the tasks: the model's own time
    return {"images_to_tokenize": n_seg, "token_rows": landed, "token_rejects": n_rej,
            "new_tokens": stats["tokens"] or 0, "vocab_version": vocab.version}


def run_image(spark: SparkSession, lake: Lake, cfg: dict, datasets: list[str] | None = None) -> dict:
    with StageRun(lake, STAGE, cfg, {"datasets": datasets}) as run:
        run.inputs("bronze.media", "bronze.documents", SEGMENTS, "gold.tokens")
        timer = Timer(run)
        t0 = time.monotonic()
        with timer("analyze_seconds"):
            imgs = analyze_images(spark, lake, cfg, run, datasets)
        with timer("near_dup_seconds"):
            dups = mark_duplicates(lake, cfg, run, datasets)
        with timer("tokenize_seconds"):
            toks = tokenize_images(spark, lake, cfg, run, datasets)
        run.count(rows_in=imgs["images_in"], kept=imgs["images_kept"], rejected=imgs["images_rejected"],
                  written=imgs["images_kept"])
        summary = {"run_id": run.run_id, **imgs, **dups, **toks, "seconds": round(time.monotonic() - t0, 2)}
    log.info("image done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return dataset_stage_main(STAGE, __doc__, run_image, argv)


if __name__ == "__main__":
    sys.exit(run_main(main))
