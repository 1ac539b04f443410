"""Human spot-check samples: a seeded random sample of a stage's decisions (pipelines/review.py).

    lakehouse review --stage clean|dedup|pii [--reason R] [--n 50] [--seed 0] [--out FILE]

--reason: a reject reason (e.g. gopher_min_words, near_duplicate, license_unknown), or
`kept`; by default clean samples every decision, dedup its rejects, pii the documents it
found PII in. One self-contained HTML file; no PII value in it.
"""
from __future__ import annotations

import sys
from pathlib import Path

from jobs.common.entry import common_parser, open_lake, run_main
from pipelines.review import STAGES, review


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse review", __doc__.split("\n\n")[0])
    ap.add_argument("--stage", required=True, choices=STAGES)
    ap.add_argument("--reason", help="only decisions with this reason, or `kept`")
    ap.add_argument("--n", type=int, default=50, help="how many decisions")
    ap.add_argument("--seed", type=int, default=0, help="which sample (the same seed, the same documents)")
    ap.add_argument("--out", help="the HTML file (default build/review-<stage>.html)")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-review")
    out = Path(args.out or f"build/review-{args.stage}.html")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(review(lake, cfg, args.stage, args.reason, args.n, args.seed), encoding="utf-8")
    print(f"review: {out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
