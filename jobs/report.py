"""Data report: a static HTML dashboard of the lake (pipelines/report.py).

    lakehouse report [--out build/report.html]

Rows per stage over runs, drop reasons, duplicate rate, languages and quality tiers,
tokens by modality/language/dataset over runs, PII found, licenses, the last export's
mixture against its target. One self-contained file (plots inlined as PNG).
"""
from __future__ import annotations

import sys
from pathlib import Path

from jobs.common.entry import common_parser, open_lake, run_main
from pipelines.report import collect, render


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse report", __doc__.split("\n\n")[0])
    ap.add_argument("--out", default="build/report.html", help="the HTML file to write")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-report")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(collect(lake), lake.root), encoding="utf-8")
    print(f"report: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
