"""The Megatron-core trainer on the exported sample (CPU, gloo, world size 1) and the estimator."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from train.estimate import estimate, table
from train.presets import param_count, preset
from train.trainer import train
from train.verify import exact_resume


def test_estimator_reproduces_the_users_table():
    rows = {r["preset"]: r for r in table(tokens=10e12, gpus=256, effective_pflops=90.0)}
    expected = {"1b": (7.7, 1975), "7b": (54.0, 13827), "14b": (108.0, 27654), "30b": (231.5, 59259)}
    for name, (days, gpu_days) in expected.items():
        assert round(rows[name]["days"], 1) == pytest.approx(days, abs=0.05), name
        assert round(rows[name]["gpu_days"]) == pytest.approx(gpu_days, abs=1), name
    assert rows["1b"]["layout"] == "64x2x2"
    # MFU form: 90 PFLOPS over 256 H100 is ~35.5% of the BF16 dense peak
    r = estimate(1e9, 10e12, 256, mfu=rows["1b"]["mfu"])
    assert r["days"] == pytest.approx(rows["1b"]["days"])


def test_presets_match_the_design():
    one = preset("1b")
    assert (one["num_layers"], one["hidden_size"], one["seq_length"]) == (24, 2048, 4096)
    assert (one["adam_beta1"], one["adam_beta2"], one["adam_eps"], one["clip_grad"]) == (0.9, 0.95, 1e-8, 1.0)
    assert one["global_batch_tokens"] == 2 * 1024 * 1024 and one["lr"] == 5e-4 and one["weight_decay"] == 0.05
    assert 1.0e9 < param_count(one, 193664)["layers"] < 1.4e9
    with pytest.raises(KeyError, match="unknown trainer settings"):
        preset("tiny", hiden_size=3)


def test_tiny_model_learns_from_the_exported_sample(exported, tmp_path):
    lake, cfg, summary = exported
    logs = train(preset("tiny", train_steps=30, warmup_steps=3), summary["manifest"], str(tmp_path / "run"),
                 device="cpu")
    assert len(logs) == 30
    first = sum(r["loss"] for r in logs[:5]) / 5
    last = sum(r["loss"] for r in logs[-5:]) / 5
    assert last < first - 1.0, (first, last)
    assert all("loss_text" in r and r["grad_norm"] > 0 and r["tokens_per_s"] > 0 for r in logs)
    assert logs[2]["lr"] == pytest.approx(3e-3) and logs[-1]["lr"] < logs[5]["lr"]   # warmup, then cosine decay
    with open(tmp_path / "run" / "train_log.jsonl") as f:
        assert len(f.readlines()) == 30


def test_resume_continues_bit_exactly(exported, tmp_path):
    lake, cfg, summary = exported
    r = exact_resume(summary["manifest"], str(tmp_path), device="cpu", steps=8, at=4)
    assert r["exact"] and r["grad_norms_equal"], r
    assert len(r["resumed"]) == 4


def test_lakehouse_train_launches_torchrun(exported, tmp_path):
    lake, cfg, summary = exported
    out = tmp_path / "cli"
    p = subprocess.run([sys.executable, "-m", "jobs.cli", "train", "--export", summary["manifest"], "--out", str(out),
                        "--steps", "2", "--device", "cpu"], capture_output=True, text=True, timeout=300,
                       cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert p.returncode == 0, p.stderr[-2000:]
    lines = (out / "train_log.jsonl").read_text().splitlines()
    assert [json.loads(x)["step"] for x in lines] == [1, 2]
    bad = subprocess.run([sys.executable, "-m", "train.trainer", "--export", str(tmp_path / "nope.json"),
                          "--out", str(tmp_path / "x")], capture_output=True, text=True, timeout=300)
    assert bad.returncode != 0 and "export manifest" in bad.stderr


def test_flex_attention_trains_like_the_dense_document_mask(exported, tmp_path):
    """attention=flex (a BlockMask from the per-document position ids, no dense [s, s] mask)
    gives the losses of Megatron's dense reset_attention_mask path; both differ from plain
    causal attention across documents."""
    lake, cfg, summary = exported
    run = lambda name, **kw: [r["loss"] for r in train(preset("tiny", train_steps=6, warmup_steps=2, **kw),  # noqa: E731
                                                       summary["manifest"], str(tmp_path / name), device="cpu")]
    dense, flex = run("dense", attention="sdpa"), run("flex", attention="flex")
    assert flex == pytest.approx(dense, rel=1e-4, abs=1e-4)
    causal = run("causal", reset_attention_mask=False, reset_position_ids=False)
    gap = lambda a, b: sum(abs(x - y) for x, y in zip(a, b))       # noqa: E731
    # cross-document attention changes the curve (a sum over the steps: one step's difference
    # depends on which documents the sample packed together) far beyond flex's numerical noise
    assert gap(causal, dense) > max(1e-3, 10 * gap(flex, dense)), (dense, flex, causal)
    with pytest.raises(ValueError, match="attention must be"):
        run("bad", attention="flash")
    with pytest.raises(ValueError, match="needs reset_position_ids"):
        run("bad-pos", attention="flex", reset_position_ids=False)
