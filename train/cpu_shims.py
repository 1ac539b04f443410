"""What megatron-core needs to run on CPU (tests, gloo, world size 1).

megatron-core assumes CUDA in a few places that the tiny CPU preset reaches:
- RotaryEmbedding.get_emb moves its inverse frequencies to `torch.cuda.current_device()`;
  on CPU they stay where they are.
- `model_parallel_cuda_manual_seed` needs `inference_rng_tracker=True` (no CUDA RNG).
Applied only when no GPU is used; on GPU nothing is patched.
"""
from __future__ import annotations

import torch

_applied = False


def apply() -> None:
    global _applied
    if _applied:
        return
    from megatron.core.models.common.embeddings import rotary_pos_embedding as rpe

    def get_emb(self, max_seq_len: int, offset: int = 0):
        freqs = self.get_freqs_non_repeated(max_seq_len, offset)
        if not self.rotary_interleaved:
            emb = torch.cat((freqs, freqs), dim=-1)
        else:
            emb = torch.stack((freqs.view(-1, 1), freqs.view(-1, 1)), dim=-1).view(freqs.shape[0], -1)
        return emb[:, None, None, :]

    rpe.RotaryEmbedding.get_emb = get_emb
    _applied = True
