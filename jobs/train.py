"""`lakehouse train`: launch the Megatron-core trainer with torchrun (single node).

    lakehouse train --export <manifest.json> --preset tiny --out runs/tiny [--nproc 8] [--steps N]
                    [--set micro_batch_size=4 ...]

Multi-node: run torchrun on every node yourself, e.g.
    torchrun --nnodes 32 --nproc-per-node 8 --rdzv-backend c10d --rdzv-endpoint HOST:29400 \\
             -m train.trainer --export ... --preset 1b --out ... --set tp=2
"""
from __future__ import annotations

import argparse
import subprocess
import sys


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lakehouse train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", required=True, help="manifest.json written by lakehouse export (a path, or an "
                                                    "s3a:// or hdfs:// URI: staged to local disk)")
    ap.add_argument("--preset", default="tiny", help="tiny (CPU tests), 1b, 7b, 14b, 30b")
    ap.add_argument("--out", required=True, help="run folder (checkpoints, train_log.jsonl); resumes from it")
    ap.add_argument("--nproc", type=int, default=1, help="processes (GPUs) on this node")
    ap.add_argument("--steps", type=int)
    ap.add_argument("--device", choices=["cpu", "cuda"])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    a = ap.parse_args(argv)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={a.nproc}",
           "-m", "train.trainer", "--export", a.export, "--preset", a.preset, "--out", a.out]
    if a.steps:
        cmd += ["--steps", str(a.steps)]
    if a.device:
        cmd += ["--device", a.device]
    for o in a.overrides:
        cmd += ["--set", o]
    return subprocess.call(cmd)


if __name__ == "__main__":
    sys.exit(main())
