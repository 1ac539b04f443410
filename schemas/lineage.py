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


def lineage_checks(df: DataFrame, table_name: str = "?", columns: list[str] | None = None) -> list:
    """Aggregate expressions, one per lineage column (all, or those in `columns`), counting the
    rows where it is null or an empty string, aliased `lineage:<column>`; LineageError if df
    lacks one. For a stage that checks lineage in a pass it makes anyway (lineage_failures)."""
    wanted = LINEAGE_COLUMNS if columns is None else columns
    missing = [c for c in wanted if c not in df.columns]
    if missing:
        raise LineageError(f"{table_name}: lineage columns missing: {missing}")
    checks = []
    for f in LINEAGE_FIELDS:
        if f.name not in wanted:
            continue
        bad = F.col(f.name).isNull()
        if isinstance(f.dataType, StringType):
            bad = bad | (F.length(F.col(f.name)) == 0)
        checks.append(F.sum(F.when(bad, 1).otherwise(0)).alias(f"lineage:{f.name}"))
    return checks


def lineage_failures(row: dict, table_name: str = "?") -> None:
    """Raise LineageError for the non-zero `lineage:` counts of an aggregated row."""
    empty = {k.split(":", 1)[1]: v for k, v in row.items() if k.startswith("lineage:") and v}
    if empty:
        raise LineageError(f"{table_name}: lineage columns with null/empty values (rows): {empty}")


def check_lineage(df: DataFrame, table_name: str = "?") -> None:
    """Raise LineageError unless every lineage column is present and filled in every row.

    One aggregation pass: counts nulls (and empty strings) per column.
    """
    lineage_failures(df.agg(*lineage_checks(df, table_name)).collect()[0].asDict(), table_name)
