"""Run Delta SQL against the lake: every table registered, time travel and history included.

    lakehouse sql "SELECT dataset, count(*) FROM bronze.documents GROUP BY dataset"
    lakehouse sql "DESCRIBE HISTORY bronze.documents"
    lakehouse sql "SELECT count(*) FROM bronze.documents VERSION AS OF 0"
"""
from __future__ import annotations

import json
import sys

from jobs.common.entry import common_parser, open_lake, run_main


def run_sql(spark, query: str, limit: int = 50, fmt: str = "table", truncate: int = 80) -> list[dict]:
    """Execute each ;-separated statement; print the last one's result; return its rows."""
    stmts = [s.strip() for s in query.split(";") if s.strip()]
    if not stmts:
        raise ValueError("empty query")
    df = None
    for s in stmts:
        df = spark.sql(s)
    rows = [r.asDict(recursive=True) for r in df.limit(limit).collect()] if df.columns else []
    if fmt == "json":
        for r in rows:
            print(json.dumps(r, default=str, ensure_ascii=False))
    elif df.columns:
        df.show(limit, truncate=truncate, vertical=fmt == "vertical")
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse sql", __doc__.split("\n\n")[0])
    ap.add_argument("query", help="one or more SQL statements separated by ';'")
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--format", choices=["table", "vertical", "json"], default="table")
    ap.add_argument("--truncate", type=int, default=80, help="column width in table output (0 = full)")
    args = ap.parse_args(argv)
    _, spark, lake = open_lake(args, "lakehouse-sql")
    from pyspark.errors import AnalysisException, ParseException
    try:
        run_sql(spark, args.query, args.limit, args.format, args.truncate)
    except (AnalysisException, ParseException) as e:
        print(f"error: {str(e).splitlines()[0]}", file=sys.stderr)
        print(f"tables in the lake at {lake.root}: {', '.join(lake.register_existing()) or 'none yet'}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
