"""What the media stages (audio, image, video) share over silver.media_segments: rejects read
back from the table, the representatives still to tokenize, bronze.media rows fetched by id
without shuffling their bytes, and the token output's Spark schema."""
from __future__ import annotations

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema
from pyspark.sql.types import ArrayType, IntegerType, StructField, StructType

from jobs.common.lake import Lake
from jobs.common.runs import StageRun, check_error_budget, pipeline_version, reject_rows, write_rejects

SEGMENTS = "silver.media_segments"


def rule_rejects(lake: Lake, run: StageRun, stage: str, media_type: str) -> int:
    """ops.rejects rows for the rule-rejected rows of `media_type` that have none yet: this run's,
    and those of a run killed between its rows and its rejects (read from the table, so nothing
    is lost)."""
    if not lake.exists(SEGMENTS):
        return 0
    seg = lake.read(SEGMENTS).where((F.col("media_type") == media_type) & (F.col("decision") == "rejected"))
    if lake.exists("ops.rejects"):
        seg = seg.join(lake.read("ops.rejects").where(F.col("stage") == stage).select("doc_id"), "doc_id", "left_anti")
    seg = seg.select("doc_id", "source_uri", "source_record", "dataset", "reason",
                     F.concat(F.lit("signals "), F.to_json("signals")).alias("detail")).localCheckpoint()
    n = seg.count()
    run.expect(f"ops.rejects ({media_type} rules)", n,
               write_rejects(lake, reject_rows(seg, stage, run.run_id, "reason", "detail"), n, stage))
    return n


def pending_representatives(lake: Lake, stage: str, media_type: str, datasets) -> DataFrame | None:
    """Representatives (dup_keep) with neither a gold.tokens row nor a reject of the stage: a
    representative's only rejects are token rejects, so one that no longer decodes is not
    decoded again every night. None when there is no segments table yet."""
    if not lake.exists(SEGMENTS):
        return None
    seg = lake.read(SEGMENTS).where((F.col("media_type") == media_type) & F.col("dup_keep"))
    if datasets:
        seg = seg.where(F.col("dataset").isin(datasets))
    if lake.exists("gold.tokens"):
        seg = seg.join(lake.read("gold.tokens").where(F.col("modality") == media_type).select("doc_id"), "doc_id",
                       "left_anti")
    if lake.exists("ops.rejects"):
        seg = seg.join(lake.read("ops.rejects").where(F.col("stage") == stage).select("doc_id"), "doc_id", "left_anti")
    return seg


def tokens_schema(arrow: pa.Schema) -> StructType:
    """A tokens_fn's output; the ids are never null (gold.tokens says so, Arrow's schema cannot)."""
    return StructType([StructField("tokens", ArrayType(IntegerType(), False)) if f.name == "tokens" else f
                       for f in from_arrow_schema(arrow).fields])


def rows_of(lake: Lake, ids: DataFrame, n: int, columns: list[str], broadcast_ids: int,
            how: str = "left_semi") -> DataFrame:
    """bronze.media's `columns` (doc_id among them) of the rows of `ids` (n of them, keyed by
    doc_id; how="inner" keeps their other columns too), joined without shuffling the bytes: `ids`
    is broadcast up to `broadcast_ids` rows (the stage's config key), beyond which the join
    shuffles both sides."""
    ids = F.broadcast(ids) if n <= broadcast_ids else ids
    return lake.read("bronze.media").select(*columns).join(ids, "doc_id", how)


def segment_rows(out: DataFrame, run_id: str, stage: str, media_type: str) -> DataFrame:
    """silver.media_segments rows of a segments pass's output (pipelines/audio/stage.py SEGMENTS)."""
    return out.where("segment >= 0").select(
        "doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256",
        F.array("parent_id").alias("parent_ids"), "ingest_run_id", F.lit(run_id).alias("run_id"),
        F.lit(stage).alias("stage"), F.current_timestamp().alias("processed_at"),
        F.lit(pipeline_version()).alias("pipeline_version"), F.lit(media_type).alias("media_type"), "segment",
        "start_s", "end_s", "lang", "signals", "fingerprint", "decision", "reason")


def land_segments(lake: Lake, run: StageRun, stage: str, media_type: str, out: DataFrame, parents: DataFrame,
                  n_in: int, budget: dict, error_reasons: tuple[str, ...]) -> dict:
    """Write a segments pass's output `out` (persisted; `segment` >= 0: a segment of its file,
    < 0: the file's reject): the error budget first, then the segments, then the file rejects;
    counts read back from the tables for the `n_in` files of `parents` (ids)."""
    stats = {(r["is_seg"], r["reason"]): r["n"] for r in
             out.select((F.col("segment") >= 0).alias("is_seg"), "reason").groupBy("is_seg", "reason")
             .agg(F.count("*").alias("n")).collect()}
    file_rej = {reason: n for (is_seg, reason), n in stats.items() if not is_seg}
    check_error_budget(stage, file_rej, n_in, budget, error_reasons)
    n_seg = sum(n for (is_seg, _), n in stats.items() if is_seg)
    _, landed = lake.insert_counted(SEGMENTS, segment_rows(out, run.run_id, stage, media_type), n_seg,
                                    source_persisted=True)
    run.expect(f"{SEGMENTS} ({media_type})", n_seg, landed)
    n_file_rej = sum(file_rej.values())
    rej = reject_rows(out.where("segment < 0"), stage, run.run_id, "reason", "detail")
    run.expect(f"ops.rejects ({media_type} files)", n_file_rej, write_rejects(lake, rej, n_file_rej, stage))
    segmented = (lake.read(SEGMENTS).where(F.col("media_type") == media_type)
                 .select(F.col("parent_ids")[0].alias("doc_id")).distinct().join(parents, "doc_id", "left_semi")
                 .count())
    file_rejects = (F.col("stage") == stage) & (F.col("source_record") == F.col("source_uri"))
    rejected = (lake.read("ops.rejects").where(file_rejects).select("doc_id").distinct()
                .join(parents, "doc_id", "left_semi").count())
    for (is_seg, reason), n in stats.items():
        if reason:
            run.metric(f"dropped.{'segment' if is_seg else 'file'}.{reason}", n)
    seconds = out.where("segment >= 0").agg(F.sum(F.col("end_s") - F.col("start_s"))).first()[0] or 0.0
    return {"segments": n_seg, "segmented": segmented, "rejected": rejected, "seconds": seconds}


def count_and_record(lake: Lake, run: StageRun, vocab_version: str, hours: bool = True,
                     by_modality: bool = False) -> None:
    """gold.token_counts rows for the runs not counted yet (jobs/tokenize.py count_tokens), and
    this run's tokens (and hours) per language and dataset in its metrics: tokens.lang.<l>,
    hours.dataset.<d>, ... (`by_modality`: tokens.<modality>.lang.<l>, for a stage writing two)."""
    from jobs.tokenize import count_tokens

    for c in count_tokens(lake, run.run_id, vocab_version):
        pre = f"{c['modality']}." if by_modality else ""
        for key in (f"{pre}lang.{c['lang']}", f"{pre}dataset.{c['dataset']}"):
            run.metric(f"tokens.{key}", run.metrics.get(f"tokens.{key}", 0) + c["tokens"])
            if hours:
                run.metric(f"hours.{key}", run.metrics.get(f"hours.{key}", 0) + (c["seconds"] or 0) / 3600)
