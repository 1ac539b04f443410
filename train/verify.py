"""Exact-continuation check: train N steps with a checkpoint at k, resume a copy from k,
and compare the losses of steps k+1..N (they must be bit-identical).

    python -m train.verify --export <manifest.json> --out DIR [--device cuda]
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

from train.presets import preset
from train.trainer import ckpt_dir, train


def exact_resume(export: str, out: str, device: str | None = None, steps: int = 8, at: int = 4,
                 preset_name: str = "tiny", **overrides) -> dict:
    full, resumed = os.path.join(out, "full"), os.path.join(out, "resumed")
    for d in (full, resumed):
        shutil.rmtree(d, ignore_errors=True)
    cfg = preset(preset_name, save_interval=at, train_steps=steps, **overrides)
    a = train(cfg, export, full, steps, device)
    os.makedirs(os.path.join(resumed, "checkpoints"))
    shutil.copytree(ckpt_dir(full, at), ckpt_dir(resumed, at))
    with open(os.path.join(resumed, "checkpoints", "latest"), "w") as f:
        f.write(str(at))
    b = train(cfg, export, resumed, steps, device)
    la, lb = [r["loss"] for r in a[at:]], [r["loss"] for r in b]
    return {"straight": la, "resumed": lb, "exact": la == lb, "grad_norms_equal":
            [r["grad_norm"] for r in a[at:]] == [r["grad_norm"] for r in b]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--device", choices=["cpu", "cuda"])
    a = ap.parse_args(argv)
    r = exact_resume(a.export, a.out, a.device)
    print(json.dumps(r))
    return 0 if r["exact"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
