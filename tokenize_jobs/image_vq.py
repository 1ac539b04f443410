"""The visual VQ tokenizer: a VQGAN encoder-decoder (LlamaGen's VQ-16 layout) with a cosine
codebook, 256x256 RGB -> a 16x16 grid of codes from a 16,384-entry codebook.

`Arch` is the network's shape. `FULL` is LlamaGen's VQ-16 (ch 128, ch_mult 1,1,2,2,4, two
residual blocks per level, z 256, codebook dim 8, ~65M parameters): the benchmark times it
with random weights, and a checkpoint of any Arch loads by path (`VQTokenizer(folder)`,
hash-checked, never downloaded). `PROJECT` is the small one the project trains itself on
CPU (tokenize_jobs/image_vq_train.py) for the tests and the sample: the same levels after a
pixel-unshuffle stem. The encoder: residual blocks (GroupNorm, SiLU, 3x3 convs), a stride-2
conv between levels (f = stem x 2^(levels-1) = 16), a middle block with self-attention, a
1x1 projection to z; the decoder mirrors it with num_res_blocks + 1 blocks per level. The
quantizer is vector-quantize-pytorch's VectorQuantize (l2-normalised codes of
`codebook_dim`, EMA updates, dead codes refilled from the batch), or its FSQ (finite scalar
quantization, levels 8,8,8,8,4 = 16,384 codes), which trained to the same held-out PSNR here
with fewer codes in use.
"""
from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Arch:
    ch: int = 16
    ch_mult: tuple[int, ...] = (1, 2, 2, 4, 4)
    num_res_blocks: int = 1
    z_channels: int = 64
    codebook_dim: int = 8
    codes: int = 16384
    groups: int = 8                 # GroupNorm groups (divides every level's channels)
    attention: bool = True          # self-attention in the middle block
    quantizer: str = "vq"           # vq: cosine codebook (LlamaGen); fsq: finite scalar quantization
    fsq_levels: tuple[int, ...] = (8, 8, 8, 8, 4)     # fsq: 16,384 implicit codes
    stem: int = 1                   # 1: VQGAN's full-resolution first level; s > 1: pixel-unshuffle by s first
    decay: float = 0.8              # codebook EMA
    kmeans_init: bool = False       # a first batch holds far fewer vectors than 16,384 codes: dead-code refills do it

    @property
    def factor(self) -> int:
        return self.stem * 2 ** (len(self.ch_mult) - 1)


# the project's CPU-trainable one: a pixel-unshuffle stem (4x4 pixels -> 48 channels) in place of VQGAN's
# two full- and half-resolution levels, which cost most of the compute per pixel; then VQGAN's levels
PROJECT = Arch(ch=64, ch_mult=(1, 2, 2), stem=4, z_channels=64, groups=16)
FULL = Arch(ch=128, ch_mult=(1, 1, 2, 2, 4), num_res_blocks=2, z_channels=256, groups=32)


def build(a: Arch):
    """The VQ model for an Arch (torch modules built on first use: torch is an extra)."""
    import torch
    from loguru import logger
    from torch import nn
    from vector_quantize_pytorch import FSQ, VectorQuantize

    logger.disable("vector_quantize_pytorch")

    def norm(c):
        return nn.GroupNorm(a.groups, c, eps=1e-6)

    class Res(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.body = nn.Sequential(norm(cin), nn.SiLU(), nn.Conv2d(cin, cout, 3, padding=1),
                                      norm(cout), nn.SiLU(), nn.Conv2d(cout, cout, 3, padding=1))
            self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

        def forward(self, x):
            return self.skip(x) + self.body(x)

    class Attn(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.norm, self.qkv, self.out = norm(c), nn.Conv2d(c, 3 * c, 1), nn.Conv2d(c, c, 1)

        def forward(self, x):
            b, c, h, w = x.shape
            q, k, v = self.qkv(self.norm(x)).reshape(b, 3, c, h * w).transpose(-1, -2).unbind(1)
            y = torch.nn.functional.scaled_dot_product_attention(q, k, v)
            return x + self.out(y.transpose(-1, -2).reshape(b, c, h, w))

    chans = [a.ch * m for m in a.ch_mult]
    top = chans[-1]

    def mid():
        return [Res(top, top)] + ([Attn(top)] if a.attention else []) + [Res(top, top)]

    s2 = a.stem * a.stem
    enc, c = ([nn.PixelUnshuffle(a.stem)] if a.stem > 1 else []) + [nn.Conv2d(3 * s2, a.ch, 3, padding=1)], a.ch
    for i, cout in enumerate(chans):
        for _ in range(a.num_res_blocks):
            enc.append(Res(c, cout))
            c = cout
        if i < len(chans) - 1:
            enc.append(nn.Conv2d(c, c, 3, stride=2, padding=1))
    enc += mid() + [norm(top), nn.SiLU(), nn.Conv2d(top, a.z_channels, 1)]

    dec, c = [nn.Conv2d(a.z_channels, top, 3, padding=1)] + mid(), top
    for i, cout in reversed(list(enumerate(chans))):
        for _ in range(a.num_res_blocks + 1):
            dec.append(Res(c, cout))
            c = cout
        if i > 0:
            dec += [nn.Upsample(scale_factor=2.0, mode="nearest"), nn.Conv2d(c, c, 3, padding=1)]
    dec += [norm(c), nn.SiLU(), nn.Conv2d(c, 3 * s2, 3, padding=1)] + ([nn.PixelShuffle(a.stem)] if a.stem > 1 else [])

    class VQ(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
            self.fsq = a.quantizer == "fsq"
            if self.fsq:
                self.quantizer = FSQ(levels=list(a.fsq_levels), dim=a.z_channels)
                return
            self.quantizer = VectorQuantize(
                dim=a.z_channels, codebook_size=a.codes, codebook_dim=a.codebook_dim, use_cosine_sim=True,
                decay=a.decay, kmeans_init=a.kmeans_init, kmeans_iters=10, threshold_ema_dead_code=2,
                commitment_weight=0.25, accept_image_fmap=True)

        def forward(self, x):                    # x: (B, 3, H, W) in [-1, 1]
            if self.fsq:
                q, idx = self.quantizer(self.encoder(x))
                return self.decoder(q), idx, torch.zeros(())
            q, idx, commit = self.quantizer(self.encoder(x))
            return self.decoder(q), idx, commit.sum()

        def encode(self, x):                     # -> (B, H/f, W/f) code indices
            return self.quantizer(self.encoder(x))[1]

        def decode(self, idx):
            if self.fsq:
                return self.decoder(self.quantizer.indices_to_codes(idx))
            # vector-quantize-pytorch's get_output_from_indices moves the channel axis before its
            # output projection when accept_image_fmap is set (1.32): look the codes up here
            q = self.quantizer.project_out(self.quantizer.codebook[idx])        # (B, h, w, z)
            return self.decoder(q.permute(0, 3, 1, 2))
    return VQ()


def to_tensor(images: list[np.ndarray]):
    """HxWx3 uint8 arrays -> (B, 3, H, W) float in [-1, 1]."""
    import torch

    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0


def to_uint8(x) -> np.ndarray:
    return ((x.clamp(-1, 1) + 1) * 127.5).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


class VQTokenizer:
    """A VQ model in eval mode: `encode` images (256x256 RGB uint8) to code grids, `decode` back.

    `folder` holds model.pt (the Arch and weights) and report.json (its sha256 and held-out
    scores); `random_weights` builds an Arch untrained (the benchmark's speed runs only)."""

    def __init__(self, folder: str | Path | None = None, sha256: str | None = None, device: str = "cpu",
                 arch: Arch | None = None, random_weights: bool = False):
        import torch

        if random_weights:
            self.arch, self.report = arch or FULL, {}
            torch.manual_seed(0)
            self.model = build(self.arch)
            self.version = "vq-random"
        else:
            folder = Path(folder)
            blob = folder / "model.pt"
            if not blob.exists():
                raise FileNotFoundError(f"image tokenizer: no model.pt in {folder}")
            digest = hashlib.sha256(blob.read_bytes()).hexdigest()
            report_file = folder / "report.json"
            self.report = json.loads(report_file.read_text()) if report_file.exists() else {}
            want = sha256 or self.report.get("model_sha256")
            if want and digest != want:
                raise ValueError(f"{blob}: sha256 {digest[:12]} is not the expected {want[:12]}")
            state = torch.load(blob, map_location="cpu", weights_only=False)
            self.arch = Arch(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["arch"].items()})
            self.model = build(self.arch)
            self.model.load_state_dict(state["weights"])
            self.version = f"vq-{digest[:12]}"
        self.model.eval().to(device)
        self.device, self.codes = device, self.arch.codes

    def encode(self, images: list[np.ndarray]) -> np.ndarray:
        """(B, h, w) int32 codes; each image's codes depend on that image alone (eval mode:
        GroupNorm is per sample, no batch statistics)."""
        import torch

        with torch.no_grad():
            return self.model.encode(to_tensor(images).to(self.device)).cpu().numpy().astype(np.int32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return to_uint8(self.model.decode(torch.from_numpy(codes.astype(np.int64)).to(self.device)))


def save(model, arch: Arch, folder: Path) -> str:
    import torch

    folder.mkdir(parents=True, exist_ok=True)
    torch.save({"arch": asdict(arch), "weights": model.state_dict()}, folder / "model.pt")
    return hashlib.sha256((folder / "model.pt").read_bytes()).hexdigest()


@functools.lru_cache(maxsize=2)
def load_vq(folder: str, sha256: str | None, device: str) -> VQTokenizer:
    """One model per executor process and configuration."""
    return VQTokenizer(folder, sha256, device)
