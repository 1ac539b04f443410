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
from jobs.common.runs import StageRun, reject_rows, write_rejects

SEGMENTS = "silver.media_segments"
BROADCAST_IDS = 2_000_000


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


def rows_of(lake: Lake, ids: DataFrame, n: int, columns: list[str]) -> DataFrame:
    """bronze.media rows of `ids` (n of them), joined without shuffling their bytes: the ids are
    broadcast up to BROADCAST_IDS (~80 MB), beyond which the join shuffles."""
    ids = F.broadcast(ids) if n <= BROADCAST_IDS else ids
    return lake.read("bronze.media").join(ids, "doc_id", "left_semi").select(*columns)
