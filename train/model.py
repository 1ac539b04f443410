"""The GPTModel: megatron-core's own, built from the local (no TransformerEngine) layer spec.

One change to the spec: core attention is torch's scaled_dot_product_attention (flash /
memory-efficient kernels on GPU, the math kernel on CPU) instead of Megatron's unfused
DotProductAttention, whose softmax buffer is allocated on CUDA and whose [b, n, s, s]
scores cost memory and time. Document boundaries arrive either as Megatron's boolean
attention mask (True = masked; `attention: sdpa`), or as a flex-attention BlockMask built
from the per-document position ids (`attention: flex`): no dense [b, s, s] mask, and blocks
across documents are skipped. Without either the attention is causal.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from megatron.core.models.gpt import GPTModel
from megatron.core.models.gpt.gpt_layer_specs import get_gpt_layer_local_spec
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.transformer_config import TransformerConfig
from torch.nn.attention.flex_attention import BlockMask, create_block_mask, flex_attention


class SDPAttention(MegatronModule):
    """Drop-in core attention for Megatron's SelfAttention: [s, b, n, d] in, [s, b, n*d] out."""

    def __init__(self, config: TransformerConfig, layer_number: int, attn_mask_type, attention_type: str,
                 attention_dropout: float | None = None, softmax_scale: float | None = None,
                 cp_comm_type=None, pg_collection=None, **_):
        super().__init__(config=config)
        self.dropout = config.attention_dropout if attention_dropout is None else attention_dropout
        self.scale = softmax_scale if softmax_scale is not None else 1.0 / math.sqrt(config.kv_channels)

    def forward(self, query, key, value, attention_mask, attn_mask_type=None, attention_bias=None,
                packed_seq_params=None):
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))   # [b, n, s, d]
        gqa = k.size(1) != q.size(1)
        if isinstance(attention_mask, BlockMask):
            out = _flex()(q, k, v, block_mask=attention_mask, scale=self.scale, enable_gqa=gqa)
        else:
            mask = None if attention_mask is None else ~attention_mask.to(torch.bool)
            out = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=self.dropout if self.training else 0.0,
                is_causal=mask is None, scale=self.scale, enable_gqa=gqa)
        b, n, s, d = out.shape
        return out.permute(2, 0, 1, 3).reshape(s, b, n * d)


@functools.cache
def _flex():
    """flex_attention, compiled on GPU (its fused kernels exist only compiled); eager on CPU,
    where it runs an unfused reference path (tests, tiny models)."""
    if torch.cuda.is_available():
        return torch.compile(flex_attention, dynamic=False)
    return flex_attention


def document_block_mask(position_ids: torch.Tensor) -> BlockMask:
    """Causal attention within documents, from position ids that restart at 0 at every
    document (Megatron's reset_position_ids): the same pattern as GPTDataset's
    reset_attention_mask, as a block-sparse mask."""
    doc = (position_ids == 0).cumsum(dim=1)
    b, s = doc.shape

    def same_doc_causal(bi, h, qi, ki):
        return (doc[bi, qi] == doc[bi, ki]) & (qi >= ki)
    # on GPU the mask's blocks are found by a compiled kernel instead of a dense [b, s, s] pass
    return create_block_mask(same_doc_causal, b, None, s, s, device=position_ids.device, _compile=position_ids.is_cuda)


def transformer_config(cfg: dict, device: str) -> TransformerConfig:
    bf16 = bool(cfg["bf16"]) and device == "cuda"
    return TransformerConfig(
        num_layers=cfg["num_layers"], hidden_size=cfg["hidden_size"], ffn_hidden_size=cfg["ffn_hidden_size"],
        num_attention_heads=cfg["num_attention_heads"], num_query_groups=cfg["num_query_groups"],
        kv_channels=cfg["hidden_size"] // cfg["num_attention_heads"],
        normalization="RMSNorm", layernorm_epsilon=cfg["norm_epsilon"], gated_linear_unit=True,
        activation_func=F.silu, add_bias_linear=False, add_qkv_bias=cfg["add_qkv_bias"],
        hidden_dropout=0.0, attention_dropout=0.0, bias_dropout_fusion=False, masked_softmax_fusion=False,
        apply_rope_fusion=False, persist_layer_norm=False, gradient_accumulation_fusion=False,
        tensor_model_parallel_size=cfg["tp"] if device == "cuda" else 1,
        pipeline_model_parallel_size=1, sequence_parallel=False,
        use_cpu_initialization=device != "cuda", perform_initialization=True,
        params_dtype=torch.bfloat16 if bf16 else torch.float32, bf16=bf16,
        pipeline_dtype=torch.bfloat16 if bf16 else torch.float32,
        init_method_std=0.02, attention_softmax_in_fp32=True,
    )


def build_model(cfg: dict, vocab_size: int, device: str) -> GPTModel:
    spec = get_gpt_layer_local_spec(normalization="RMSNorm")
    spec.submodules.self_attention.submodules.core_attention = SDPAttention
    model = GPTModel(config=transformer_config(cfg, device), transformer_layer_spec=spec, vocab_size=vocab_size,
                     max_sequence_length=cfg["seq_length"], position_embedding_type="rope",
                     rotary_base=cfg["rotary_base"],
                     share_embeddings_and_output_weights=not cfg["untie_embeddings"])
    model = model.to(device)
    if cfg.get("compile"):
        # fuse each layer's norms, RoPE, SwiGLU and residual adds (the local spec runs them as
        # separate kernels); the layer structure and parameters stay Megatron's
        for layer in model.decoder.layers:
            layer.compile()
    return model
