"""Capacity plan: core-hours, wall time, bytes per layer and shuffle for a token pool (pipelines/plan.py).

    lakehouse plan                                   # rates from this lake's ops.runs
    lakehouse plan --rates bench/results/rates.json --cores 2048 --tokens text=10T --tokens image=0.5T
    lakehouse plan --save-rates rates.json           # record this lake's rates for later plans

Default pool: the user's 100T tokens (text 94.0T, audio 2.5T, video 2.5T, image 1.0T) on
1024 cores, and a nightly of 1% of it. A modality whose stages have no measured rates yet is
printed as missing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from jobs.common.entry import common_parser, open_lake, run_main
from pipelines import plan as P

_SCALE = {"": 1.0, "k": 1e3, "M": 1e6, "G": 1e9, "B": 1e9, "T": 1e12, "P": 1e15}


def parse_tokens(items: list[str]) -> dict[str, float]:
    """['text=94T', 'image=1e12'] -> {'text': 9.4e13, 'image': 1e12}; unnamed modalities keep the default."""
    out = {m: t * 1e12 for m, t in P.POOL_PLAN_T.items()}
    for item in items:
        m, sep, v = item.partition("=")
        if not sep or m not in P.CHAINS:
            raise P.PlanError(f"--tokens {item!r}: expected MODALITY=COUNT with a modality of {sorted(P.CHAINS)}")
        v = v.strip()
        unit = v[-1] if v and v[-1] in _SCALE else ""
        try:
            out[m] = float(v[:-1] if unit else v) * _SCALE[unit]
        except ValueError as e:
            raise P.PlanError(f"--tokens {item!r}: {v!r} is not a count (e.g. 94T, 2.5e12)") from e
    return {m: t for m, t in out.items() if t > 0}


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse plan", __doc__.split("\n\n")[0])
    ap.add_argument("--rates", help="a rates file (JSON, from --save-rates or a benchmark) instead of the lake")
    ap.add_argument("--save-rates", help="write the lake's measured rates to this file")
    ap.add_argument("--tokens", action="append", default=[], metavar="MODALITY=COUNT",
                    help="the pool's tokens of a modality, e.g. text=94T (0 leaves it out); default the 100T plan")
    ap.add_argument("--cores", type=int, default=1024, help="cores of the cluster for the wall times")
    ap.add_argument("--nightly-share", type=float, default=0.01, help="the share of the pool a nightly adds")
    ap.add_argument("--bytes-per-token", type=float, default=P.BYTES_PER_TEXT_TOKEN, help="text bytes per token")
    ap.add_argument("--json", action="store_true", help="print the plan as JSON")
    args = ap.parse_args(argv)
    try:
        pool = P.Pool(tokens=parse_tokens(args.tokens), cores=args.cores, nightly_share=args.nightly_share,
                      bytes_per_text_token=args.bytes_per_token)
        if args.rates and args.save_rates:
            raise P.PlanError("--save-rates records a lake's rates: it does not go with --rates")
        if args.rates:
            try:
                rates, source = P.load_rates(Path(args.rates).read_text())
            except OSError as e:
                raise P.PlanError(f"cannot read the rates file: {e}") from e
            source = f"{args.rates} ({source})" if source else args.rates
        else:
            _, _, lake = open_lake(args, "lakehouse-plan")
            lake.activate()
            rates, source = P.rates_from_lake(lake), f"the runs of {lake.root}"
            if args.save_rates:
                Path(args.save_rates).write_text(P.save_rates(rates, source) + "\n")
                print(f"rates: {Path(args.save_rates).resolve()}", file=sys.stderr)
        result = P.plan(rates, pool)
    except P.PlanError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=1, sort_keys=True) if args.json else P.format_plan(result, source))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
