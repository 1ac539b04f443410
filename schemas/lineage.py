"""The lineage contract: columns every data table carries, defined once.

A row's history is answerable with Delta SQL alone: `doc_id` is stable and content-derived,
`source_uri` + `source_record` point at the bytes it came from, `parent_ids` link segments
to their source rows, `ingest_run_id` / `run_id` join to ops.runs.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, StringType, StructField, TimestampType

LINEAGE_FIELDS = [
    StructField("doc_id", StringType(), False),          # stable, content-derived id
    StructField("source_uri", StringType(), False),      # file or object the row came from
    StructField("source_record", StringType(), False),   # WARC-Record-ID, or file:line / file:row
    StructField("dataset", StringType(), False),
    StructField("license", StringType(), False),         # SPDX-like id, or "unknown"
    StructField("content_sha256", StringType(), False),  # of the raw content bytes
    StructField("parent_ids", ArrayType(StringType()), False),  # empty at ingest
    StructField("ingest_run_id", StringType(), False),
    StructField("run_id", StringType(), False),          # last writer
    StructField("stage", StringType(), False),           # last writer's stage
    StructField("processed_at", TimestampType(), False),
    StructField("pipeline_version", StringType(), False),
]
LINEAGE_COLUMNS = [f.name for f in LINEAGE_FIELDS]


class LineageError(ValueError):
    """A data frame about to be written breaks the lineage contract."""


def check_lineage(df: DataFrame, table_name: str = "?") -> None:
    """Raise LineageError unless every lineage column is present and filled in every row.

    One aggregation pass: counts nulls (and empty strings) per column.
    """
    missing = [c for c in LINEAGE_COLUMNS if c not in df.columns]
    if missing:
        raise LineageError(f"{table_name}: lineage columns missing: {missing}")
    checks = []
    for f in LINEAGE_FIELDS:
        bad = F.col(f.name).isNull()
        if isinstance(f.dataType, StringType):
            bad = bad | (F.length(F.col(f.name)) == 0)
        checks.append(F.sum(F.when(bad, 1).otherwise(0)).alias(f.name))
    row = df.agg(*checks).collect()[0].asDict()
    empty = {k: v for k, v in row.items() if v}
    if empty:
        raise LineageError(f"{table_name}: lineage columns with null/empty values (rows): {empty}")
