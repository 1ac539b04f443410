"""The thin trainer: megatron-core GPTModel on the exported shards.

    torchrun --nproc-per-node N -m train.trainer --export <manifest.json> --preset 1b --out runs/x
    lakehouse train --export <manifest.json> --preset tiny --out runs/x      (calls torchrun)

Parallel state, model, datasets and (on GPU) the distributed optimizer are megatron-core's;
this module is the loop: micro-batches with gradient accumulation, AdamW (betas 0.9/0.95,
eps 1e-8, weight decay without norms and biases), Megatron's OptimizerParamScheduler
(linear warmup, cosine to min_lr), grad clip 1.0, BF16 on GPU, per-modality losses,
checkpoint/resume of model, optimizer, scheduler, data position and RNG, and MFU from
6 x params x tokens. On CPU (gloo) torch's AdamW replaces Megatron's optimizer, whose
buffers live on CUDA.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from train.data import batch, build_datasets, load_export, modality_ids
from train.presets import flops_params, param_count, preset

log = logging.getLogger("lakehouse.train")
MODALITIES = ("text", "image", "audio", "video")
PEAK_TFLOPS = {"H100": 989.0, "H200": 989.0, "H800": 989.0, "A100": 312.0, "L40S": 362.0}


def device_peak_tflops(device: str) -> float | None:
    if device != "cuda":
        return None
    name = torch.cuda.get_device_name()
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def init_distributed(device: str, tp: int) -> tuple[int, int]:
    from megatron.core import parallel_state

    if not torch.distributed.is_initialized():
        os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
        if "MASTER_PORT" not in os.environ:     # not launched by torchrun: any free port
            import socket
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                os.environ["MASTER_PORT"] = str(sock.getsockname()[1])
        os.environ.setdefault("RANK", "0")
        os.environ.setdefault("WORLD_SIZE", "1")
        if device == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        torch.distributed.init_process_group("nccl" if device == "cuda" else "gloo")
    world = torch.distributed.get_world_size()
    if world % tp:
        raise ValueError(f"world size {world} is not a multiple of tensor parallel size {tp}")
    if not parallel_state.model_parallel_is_initialized():
        parallel_state.initialize_model_parallel(tensor_model_parallel_size=tp, pipeline_model_parallel_size=1)
    return parallel_state.get_data_parallel_rank(), parallel_state.get_data_parallel_world_size()


def shutdown() -> None:
    from megatron.core import parallel_state

    parallel_state.destroy_model_parallel()
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def seed_all(seed: int, device: str) -> None:
    from megatron.core.tensor_parallel.random import model_parallel_cuda_manual_seed

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    model_parallel_cuda_manual_seed(seed, inference_rng_tracker=device != "cuda")


def rng_state(device: str) -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if device == "cuda" else None}


def set_rng_state(s: dict, device: str) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
    if device == "cuda" and s["cuda"] is not None:
        torch.cuda.set_rng_state(s["cuda"])


class Optim:
    """AdamW + scheduler behind one interface: Megatron's (GPU, distributed optimizer, BF16
    params with FP32 main weights) or torch's (CPU)."""

    def __init__(self, model, cfg: dict, device: str, dp: int = 1):
        from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

        self.device, self.cfg = device, cfg
        self.megatron = device == "cuda" and cfg.get("optimizer", "megatron") == "megatron"
        # the distributed optimizer shards optimizer state over data-parallel ranks (ZeRO-1);
        # with one DP rank it saves nothing, and the plain mixed-precision one is used
        dist = cfg.get("distributed_optimizer", "auto")
        self.distributed = self.megatron and (dp > 1 if dist == "auto" else bool(dist))
        if self.megatron:
            from megatron.core.distributed import DistributedDataParallel, DistributedDataParallelConfig
            from megatron.core.optimizer import OptimizerConfig, get_megatron_optimizer

            self.model = DistributedDataParallel(
                model.config, DistributedDataParallelConfig(grad_reduce_in_fp32=True,
                                                            use_distributed_optimizer=self.distributed), model)
            self.opt = get_megatron_optimizer(OptimizerConfig(
                optimizer="adam", lr=cfg["lr"], min_lr=cfg["min_lr"], weight_decay=cfg["weight_decay"],
                adam_beta1=cfg["adam_beta1"], adam_beta2=cfg["adam_beta2"], adam_eps=cfg["adam_eps"],
                clip_grad=cfg["clip_grad"], bf16=bool(cfg["bf16"]), use_distributed_optimizer=self.distributed),
                [self.model])
        else:
            self.model = model
            decay = [p for n, p in model.named_parameters() if p.ndim >= 2]
            no_decay = [p for n, p in model.named_parameters() if p.ndim < 2]
            self.opt = torch.optim.AdamW(
                [{"params": decay, "weight_decay": cfg["weight_decay"], "wd_mult": 1.0, "lr_mult": 1.0},
                 {"params": no_decay, "weight_decay": 0.0, "wd_mult": 0.0, "lr_mult": 1.0}],
                lr=cfg["lr"], betas=(cfg["adam_beta1"], cfg["adam_beta2"]), eps=cfg["adam_eps"],
                fused=device == "cuda")
        self.sched = OptimizerParamScheduler(
            self.opt, init_lr=0.0, max_lr=cfg["lr"], min_lr=cfg["min_lr"], lr_warmup_steps=cfg["warmup_steps"],
            lr_decay_steps=cfg["train_steps"], lr_decay_style="cosine", start_wd=cfg["weight_decay"],
            end_wd=cfg["weight_decay"], wd_incr_steps=cfg["train_steps"], wd_incr_style="constant")

    def zero_grad(self) -> None:
        if self.megatron:
            self.model.zero_grad_buffer()
        self.opt.zero_grad()

    def step(self) -> float:
        """Clip, update, advance the schedule; returns the gradient norm (before clipping)."""
        if self.megatron:
            self.model.finish_grad_sync()
            ok, grad_norm, _ = self.opt.step()
        else:
            grad_norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg["clip_grad"]).item()
            self.opt.step()
        self.sched.step(1)
        return float(grad_norm)

    @property
    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def state_dict(self, path: str) -> dict:
        s = {"scheduler": self.sched.state_dict(), "optimizer": self.opt.state_dict()}
        if self.distributed:
            self.opt.save_parameter_state(path + ".optim_params")
        return s

    def load_state_dict(self, s: dict, path: str) -> None:
        self.opt.load_state_dict(s["optimizer"])
        if self.distributed:
            self.opt.load_parameter_state(path + ".optim_params")
        self.sched.load_state_dict(s["scheduler"])


def per_token_ce(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Cross entropy per position, [b, s, v] logits and [b, s] labels -> [b, s] FP32 loss.
    Under torch.compile the FP32 upcast, log-softmax and gather fuse into one pass over the
    (large: 193k-entry vocabulary) logits, and the backward into one more."""
    b, s, v = logits.shape
    return F.cross_entropy(logits.float().view(-1, v), labels.view(-1), reduction="none").view(b, s)


def ckpt_dir(out: str, step: int) -> str:
    return os.path.join(out, "checkpoints", f"step_{step:08d}")


def latest_step(out: str) -> int | None:
    path = os.path.join(out, "checkpoints", "latest")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return int(f.read().strip())


def save_checkpoint(out: str, step: int, model, optim: Optim, device: str, meta: dict) -> None:
    rank = torch.distributed.get_rank()
    d = ckpt_dir(out, step)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"rank{rank:05d}.pt")
    state = {"step": step, "model": model.state_dict(), "rng": rng_state(device), "meta": meta}
    state.update(optim.state_dict(path))
    torch.save(state, path + ".tmp")
    os.replace(path + ".tmp", path)
    torch.distributed.barrier()
    if rank == 0:
        with open(os.path.join(out, "checkpoints", "latest.tmp"), "w") as f:
            f.write(str(step))
        os.replace(os.path.join(out, "checkpoints", "latest.tmp"), os.path.join(out, "checkpoints", "latest"))


def load_checkpoint(out: str, step: int, model, optim: Optim, device: str) -> dict:
    path = os.path.join(ckpt_dir(out, step), f"rank{torch.distributed.get_rank():05d}.pt")
    state = torch.load(path, map_location="cpu", weights_only=False)   # RNG states must stay on CPU
    model.load_state_dict(state["model"])
    optim.load_state_dict(state, path)
    set_rng_state(state["rng"], device)
    return state


def train(cfg: dict, export: str, out: str, steps: int | None = None, device: str | None = None) -> list[dict]:
    """Train for `steps` optimizer steps (default cfg['train_steps']); returns the step logs.
    Resumes from the latest checkpoint under `out` when there is one."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    load_export(export, verify=False)   # a wrong path or an incomplete export fails before any process group
    if device == "cpu":
        from train import cpu_shims
        cpu_shims.apply()
    try:
        dp_rank, dp = init_distributed(device, int(cfg["tp"]) if device == "cuda" else 1)
        rank0 = torch.distributed.get_rank() == 0
        return _train(cfg, export, out, steps or int(cfg["train_steps"]), device, dp_rank, dp, rank0)
    finally:
        shutdown()


def _train(cfg, export, out, steps, device, dp_rank, dp, rank0) -> list[dict]:
    from train.model import build_model, document_block_mask

    seed_all(int(cfg["seed"]), device)
    man = load_export(export, verify=rank0)
    cfg = {**cfg, "seq_length": int(cfg["seq_length"] or man["seq_length"])}    # null: the export's
    seq = cfg["seq_length"]
    mbs = int(cfg["micro_batch_size"] or max(1, int(cfg["micro_batch_tokens"]) // seq))
    gbs = max(1, int(cfg["global_batch_tokens"] or mbs * seq * dp) // seq)   # samples per optimizer step
    if gbs % (mbs * dp):
        raise ValueError(f"global batch of {gbs} sequences is not a multiple of micro batch {mbs} x DP {dp}")
    accum = gbs // (mbs * dp)
    if cfg["attention"] not in ("sdpa", "flex"):
        raise ValueError(f"attention must be sdpa or flex, not {cfg['attention']!r}")
    if cfg["attention"] == "flex" and cfg["reset_attention_mask"] and not cfg["reset_position_ids"]:
        # the BlockMask finds documents where the position ids restart; without that it would be plain causal
        raise ValueError("attention=flex with reset_attention_mask needs reset_position_ids")
    model = build_model(cfg, man["vocab_size"], device)
    optim = Optim(model, cfg, device, dp)
    step = 0
    os.makedirs(out, exist_ok=True)
    last = latest_step(out)
    if last is not None:
        load_checkpoint(out, last, model, optim, device)
        step = last
        if rank0:
            log.info("resumed from step %d", step)
    doc_masks = bool(cfg["reset_attention_mask"])
    flex = doc_masks and cfg["attention"] == "flex"
    ds = build_datasets(man, seq, max(steps * gbs, gbs), int(cfg["seed"]), doc_masks,
                        os.path.join(out, "dataset_cache"), dense_mask=not flex)
    counts = param_count(cfg, man["vocab_size"])
    n_flops = flops_params(cfg, man["vocab_size"])
    peak = cfg.get("peak_tflops") or device_peak_tflops(device)
    logs: list[dict] = []
    log_path = os.path.join(out, "train_log.jsonl")
    fwd = optim.model
    # with compile (GPU), the loss is our fused cross entropy on the logits; else Megatron's own
    loss_fn = torch.compile(per_token_ce) if cfg.get("compile") and device == "cuda" else None
    if rank0:
        log.info("model: %s params (%s in matmuls), %d micro-batches of %d x %d per step, DP %d",
                 f"{sum(counts.values()):,}", f"{n_flops:,}", accum, mbs, seq, dp)
    while step < steps:
        prof = None
        if cfg.get("profile") and step == steps - 1 and rank0:   # the last step: where the time goes
            prof = torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]
                                          + ([torch.profiler.ProfilerActivity.CUDA] if device == "cuda" else []))
            prof.__enter__()
        if device == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fwd.train()
        optim.zero_grad()
        sums = torch.zeros(len(MODALITIES), device=device, dtype=torch.float64)
        cnts = torch.zeros(len(MODALITIES), device=device, dtype=torch.float64)
        tokens = 0
        for micro in range(accum):
            start = step * gbs + (dp_rank * accum + micro) * mbs
            b = batch(ds, start, mbs, device)
            if flex:
                b["attention_mask"] = document_block_mask(b["position_ids"])
            if loss_fn is not None:
                logits = fwd(b["tokens"], b["position_ids"], b.get("attention_mask"))   # [b, s, v]
                loss_tok = loss_fn(logits, b["labels"])
            else:
                loss_tok = fwd(b["tokens"], b["position_ids"], b.get("attention_mask"), labels=b["labels"]).float()
            mask = b["loss_mask"].float()
            n = mask.sum().clamp(min=1.0)
            (loss_tok * mask).sum().div(n * accum).backward()
            with torch.no_grad():
                mod = modality_ids(man["vocab_manifest"], b["labels"]).long()
                sums.index_add_(0, mod.flatten(), (loss_tok.detach() * mask).flatten().double())
                cnts.index_add_(0, mod.flatten(), mask.flatten().double())
            tokens += int(b["tokens"].numel())
        grad_norm = optim.step()
        if dp > 1:
            torch.distributed.all_reduce(sums)
            torch.distributed.all_reduce(cnts)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t0
        if prof is not None:
            prof.__exit__(None, None, None)
            sort = "self_cuda_time_total" if device == "cuda" else "self_cpu_time_total"
            print(prof.key_averages().table(sort_by=sort, row_limit=30, max_name_column_width=60))
        step += 1
        tok_s = tokens * dp / dt
        rec = {"step": step, "loss": float(sums.sum() / cnts.sum().clamp(min=1)), "grad_norm": grad_norm,
               "lr": optim.lr, "tokens_per_s": tok_s, "step_seconds": dt,
               "tflops_per_gpu": 6.0 * n_flops * tok_s / dp / 1e12}
        if peak:
            rec["mfu"] = rec["tflops_per_gpu"] / peak
        for i, m in enumerate(MODALITIES):
            if cnts[i] > 0:
                rec[f"loss_{m}"] = float(sums[i] / cnts[i])
        logs.append(rec)
        if rank0 and (step % int(cfg["log_interval"]) == 0 or step == steps):
            with open(log_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            log.info("step %d loss %.4f grad_norm %.3f lr %.2e %.0f tok/s%s", step, rec["loss"], grad_norm, rec["lr"],
                     tok_s, f" MFU {rec['mfu']:.1%}" if peak else "")
        if int(cfg["save_interval"]) and step % int(cfg["save_interval"]) == 0:
            save_checkpoint(out, step, model, optim, device, {"preset": cfg["preset"], "export": man["export_id"]})
    return logs


def parse_overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        k, _, v = item.partition("=")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="train.trainer", description=__doc__.split("\n\n")[0])
    ap.add_argument("--export", required=True, help="manifest.json of a lakehouse export")
    ap.add_argument("--preset", default="tiny", help="tiny, 1b, 7b, 14b, 30b")
    ap.add_argument("--out", required=True, help="run folder: checkpoints, train_log.jsonl")
    ap.add_argument("--steps", type=int, help="optimizer steps (default: the preset's train_steps)")
    ap.add_argument("--device", choices=["cpu", "cuda"])
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a preset value, e.g. --set micro_batch_size=8")
    a = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from train.data import DataError
    try:
        cfg = preset(a.preset, **parse_overrides(a.overrides))
        logs = train(cfg, a.export, a.out, a.steps, a.device)
    except (DataError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if logs and (not torch.distributed.is_initialized()):
        print(json.dumps({"steps": len(logs), "first_loss": logs[0]["loss"], "last_loss": logs[-1]["loss"]}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
