"""Training time and cost: days and GPU-days = 6 x params x tokens / effective FLOP/s.

    python -m train.estimate [--tokens 10e12] [--gpus 256] [--pflops 90 | --mfu 0.45 --peak-tflops 989]

Reproduces the user's table (256 x H100, ~90 PFLOPS effective, 10T tokens): 1B 7.7 days /
1,975 GPU-days; 7B 54 / 13,827; 14B 108 / 27,654; 30B 231 / 59,259.
"""
from __future__ import annotations

import argparse

from train.presets import PRESETS

H100_BF16_DENSE_TFLOPS = 989.0


def estimate(params: float, tokens: float, gpus: int, effective_pflops: float | None = None,
             mfu: float | None = None, peak_tflops: float = H100_BF16_DENSE_TFLOPS) -> dict:
    if effective_pflops is None:
        if mfu is None:
            raise ValueError("give effective_pflops or mfu")
        effective_pflops = gpus * peak_tflops * mfu / 1000.0
    flops = 6.0 * params * tokens
    seconds = flops / (effective_pflops * 1e15)
    days = seconds / 86400.0
    return {"params": params, "tokens": tokens, "gpus": gpus, "effective_pflops": effective_pflops,
            "mfu": effective_pflops * 1000.0 / (gpus * peak_tflops), "flops": flops, "days": days,
            "gpu_days": days * gpus}


def table(tokens: float = 10e12, gpus: int = 256, effective_pflops: float | None = 90.0,
          mfu: float | None = None) -> list[dict]:
    rows = []
    for name, p in PRESETS.items():
        if p["nominal_params"]:
            rows.append({"preset": name, "layout": f"{p['dp']}x{p['tp']}x{p['pp']}",
                         **estimate(p["nominal_params"], tokens, gpus, effective_pflops, mfu)})
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m train.estimate", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokens", type=float, default=10e12)
    ap.add_argument("--gpus", type=int, default=256)
    ap.add_argument("--pflops", type=float, help="effective cluster PFLOP/s (default 90 unless --mfu)")
    ap.add_argument("--mfu", type=float, help="model FLOPs utilization instead of --pflops")
    ap.add_argument("--peak-tflops", type=float, default=H100_BF16_DENSE_TFLOPS)
    a = ap.parse_args(argv)
    pflops = a.pflops if a.pflops is not None else (None if a.mfu else 90.0)
    print(f"{'model':<6} {'DPxTPxPP':>9} {'PFLOPS':>7} {'MFU':>6} {'days':>8} {'GPU-days':>10}")
    for r in table(a.tokens, a.gpus, pflops, a.mfu):
        print(f"{r['preset']:<6} {r['layout']:>9} {r['effective_pflops']:>7.1f} {r['mfu']:>6.1%} "
              f"{r['days']:>8.1f} {r['gpu_days']:>10,.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
