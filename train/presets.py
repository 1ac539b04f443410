"""Model and optimizer presets: `tiny` (tests, CPU) and the user's 1B / 7B / 14B / 30B rows.

Qwen-like dense decoder: RMSNorm, SwiGLU, RoPE, grouped-query attention, QKV bias, untied
embeddings (configurable). Parallel layouts (DP x TP x PP) and context come from the
user's index table for a 256 x H100 cluster; optimizer values from the training recipe
(AdamW (0.9, 0.95), eps 1e-8, weight decay 0.05 for 1B / 0.1 for larger, cosine with
linear warmup to min_lr = 0.1 x peak, grad clip 1.0, global batch 2M tokens, seq 4096).
"""
from __future__ import annotations

import copy

PRESETS: dict[str, dict] = {
    "tiny": {"num_layers": 2, "hidden_size": 64, "ffn_hidden_size": 176, "num_attention_heads": 4,
             "num_query_groups": 2, "seq_length": None, "nominal_params": None,   # the export's length
             "lr": 3e-3, "min_lr": 3e-4, "warmup_steps": 5, "train_steps": 40, "weight_decay": 0.05,
             "micro_batch_size": None, "micro_batch_tokens": 512, "global_batch_tokens": None,  # one micro batch
             "tp": 1, "pp": 1, "dp": 1},
    "1b": {"num_layers": 24, "hidden_size": 2048, "ffn_hidden_size": 5632, "num_attention_heads": 16,
           "num_query_groups": 8, "seq_length": 4096, "nominal_params": 1e9,
           "lr": 5e-4, "min_lr": 5e-5, "warmup_steps": 3000, "train_steps": 4_768_371, "weight_decay": 0.05,
           "micro_batch_size": 4, "global_batch_tokens": 2 * 1024 * 1024, "tp": 2, "pp": 2, "dp": 64,
           "context": 8192},
    "7b": {"num_layers": 32, "hidden_size": 4096, "ffn_hidden_size": 11008, "num_attention_heads": 32,
           "num_query_groups": 8, "seq_length": 4096, "nominal_params": 7e9,
           "lr": 3e-4, "min_lr": 3e-5, "warmup_steps": 3000, "train_steps": 4_768_371, "weight_decay": 0.1,
           "micro_batch_size": 1, "global_batch_tokens": 2 * 1024 * 1024, "tp": 8, "pp": 2, "dp": 16,
           "context": 8192},
    "14b": {"num_layers": 40, "hidden_size": 5120, "ffn_hidden_size": 13824, "num_attention_heads": 40,
            "num_query_groups": 8, "seq_length": 4096, "nominal_params": 14e9,
            "lr": 2e-4, "min_lr": 2e-5, "warmup_steps": 3000, "train_steps": 4_768_371, "weight_decay": 0.1,
            "micro_batch_size": 1, "global_batch_tokens": 2 * 1024 * 1024, "tp": 8, "pp": 4, "dp": 8,
            "context": 8192},
    "30b": {"num_layers": 60, "hidden_size": 6656, "ffn_hidden_size": 17920, "num_attention_heads": 52,
            "num_query_groups": 4, "seq_length": 4096, "nominal_params": 30e9,
            "lr": 1.5e-4, "min_lr": 1.5e-5, "warmup_steps": 3000, "train_steps": 4_768_371, "weight_decay": 0.1,
            "micro_batch_size": 1, "global_batch_tokens": 2 * 1024 * 1024, "tp": 16, "pp": 4, "dp": 4,
            "context": 8192},
}
COMMON = {"adam_beta1": 0.9, "adam_beta2": 0.95, "adam_eps": 1e-8, "clip_grad": 1.0, "seed": 1234,
          "untie_embeddings": True, "rotary_base": 1_000_000, "norm_epsilon": 1e-6, "add_qkv_bias": True,
          "bf16": True, "log_interval": 1, "save_interval": 0, "reset_attention_mask": True,
          "reset_position_ids": True,
          "attention": "sdpa",   # per-document masks as a dense mask (sdpa) or a flex_attention BlockMask (flex,
                          # built from the position ids: needs reset_position_ids)
          "compile": False, "optimizer": "megatron", "distributed_optimizer": "auto", "peak_tflops": None,
          "profile": False,
          "micro_batch_tokens": None}   # with micro_batch_size null: sequences per micro batch = this // seq_length


def preset(name: str, **overrides) -> dict:
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; known: {sorted(PRESETS)}")
    cfg = {**COMMON, **copy.deepcopy(PRESETS[name]), "preset": name}
    unknown = [k for k in overrides if k not in cfg]
    if unknown:
        raise KeyError(f"unknown trainer settings {unknown}; known: {sorted(cfg)}")
    cfg.update(overrides)
    return cfg


def param_count(cfg: dict, vocab_size: int) -> dict[str, int]:
    """Parameters of the preset's model: transformer layers, input embedding, output layer."""
    h, f, L = cfg["hidden_size"], cfg["ffn_hidden_size"], cfg["num_layers"]
    heads, groups = cfg["num_attention_heads"], cfg["num_query_groups"]
    d = h // heads
    qkv = h * (heads + 2 * groups) * d + ((heads + 2 * groups) * d if cfg["add_qkv_bias"] else 0)
    layer = qkv + heads * d * h + 3 * h * f + 2 * h
    emb = vocab_size * h
    return {"layers": L * layer + h, "embedding": emb, "output": emb if cfg["untie_embeddings"] else 0}


def flops_params(cfg: dict, vocab_size: int) -> int:
    """Parameters counted in MFU's 6 x N x tokens: every matmul weight (layers + output layer);
    the input embedding is a lookup, not a matmul."""
    p = param_count(cfg, vocab_size)
    return p["layers"] + (p["output"] or p["embedding"])
