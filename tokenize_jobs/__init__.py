"""Modality tokenizers (text BPE, image VQ, audio RVQ, video) and the unified vocabulary."""
