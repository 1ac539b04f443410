"""Audio segments -> RVQ codes -> ids in the unified vocabulary.

Codecs (both 24 kHz, 75 frames/s, 1,024 codes per level):
- `encodec`: the official Encodec 24 kHz model from the `encodec` package (Meta's reference
  code: the architecture the weights were trained with; transformers' EncodecModel would
  add transformers and its hub-first loading for the same network). Weights come from the
  path the user gives (`audio.tokenizer.checkpoint`, the published encodec_24khz-d7cc33bc.th
  state dict), checked against `checkpoint_sha256`; nothing is downloaded. Codebooks 2, 4,
  8, 16, 32 = bandwidth 1.5, 3, 6, 12, 24 kbps.
- `project`: the codec the project trains itself (tokenize_jobs/audio_codec.py), for the
  tests and the sample.

Layout of a segment (frame-major, level k -> the vocabulary range audio_l<k>):

    <|audio_start|> <|t_0|> f0l0 f0l1 .. f0l7 f1l0 .. | <|t_1|> (every marker_s seconds) .. <|audio_end|>

`<|t_i|>` marks i * marker_s seconds since the segment's start (its start_s in the row), so
video can interleave by time. Each segment is encoded in one pass over its own samples,
which the decoder cuts from a streaming resample of the file: the codes depend on the
segment's bounds only, never on how the file was chunked while decoding.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from quality_models.models import sha256_file
from tokenize_jobs.vocab import Vocab

RATE = 24000
FRAME_RATE = 75.0
ENCODEC_CODEBOOKS = {2: 1.5, 4: 3.0, 8: 6.0, 16: 12.0, 32: 24.0}


class CodecError(ValueError):
    pass


class EncodecCodec:
    name = "encodec"

    def __init__(self, checkpoint: str | None, sha256: str | None, codebooks: int, device: str = "cpu",
                 random_weights: bool = False):
        import torch
        from encodec import EncodecModel

        if codebooks not in ENCODEC_CODEBOOKS:
            raise CodecError(f"Encodec 24 kHz takes {sorted(ENCODEC_CODEBOOKS)} codebooks, not {codebooks}")
        model = EncodecModel.encodec_model_24khz(pretrained=False)
        if random_weights:           # the benchmark's speed runs only: same architecture, no weights
            self.version = "encodec24-random"
        else:
            if not checkpoint or not Path(checkpoint).exists():
                raise CodecError(f"audio.tokenizer.checkpoint: Encodec 24 kHz weights not found at {checkpoint!r} "
                                 "(the state dict encodec_24khz-d7cc33bc.th, from a path you provide)")
            digest = sha256_file(checkpoint)
            if sha256 and digest != sha256:
                raise CodecError(f"{checkpoint}: sha256 {digest} is not the configured {sha256}")
            model.load_state_dict(torch.load(checkpoint, map_location="cpu", weights_only=True))
            self.version = f"encodec24-{digest[:12]}"
        model.set_target_bandwidth(ENCODEC_CODEBOOKS[codebooks])
        self.model = model.eval().to(device)
        self.device, self.levels, self.codes, self.frame_rate = device, codebooks, 1024, FRAME_RATE

    def encode(self, x: np.ndarray, levels: int) -> np.ndarray:
        import torch

        t = torch.from_numpy(x.astype(np.float32))[None, None].to(self.device)
        with torch.no_grad():
            frames = self.model.encode(t)
        codes = torch.cat([c for c, _ in frames], dim=-1)[0]       # (K, T)
        return codes[:levels].cpu().numpy().astype(np.int32)

    def encode_batch(self, xs: list[np.ndarray], levels: int) -> list[np.ndarray]:
        """Several segments in one forward pass, right-padded with zeros: the 24 kHz model is
        causal (causal convolutions, a unidirectional LSTM), so a frame's codes depend on the
        samples up to it only and each segment's codes equal its own encode()."""
        import torch

        n = max(x.size for x in xs)
        t = torch.from_numpy(np.stack([np.pad(x.astype(np.float32), (0, n - x.size)) for x in xs]))[:, None]
        with torch.no_grad():
            frames = self.model.encode(t.to(self.device))
        codes = torch.cat([c for c, _ in frames], dim=-1)[:, :levels].cpu().numpy().astype(np.int32)
        return [codes[i, :, :-(-x.size // 320)] for i, x in enumerate(xs)]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            y = self.model.decode([(torch.from_numpy(codes.astype(np.int64))[None].to(self.device), None)])
        return y[0, 0].cpu().numpy()


def device_of(setting: str) -> str:
    if setting != "auto":
        return setting
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


@functools.lru_cache(maxsize=2)
def load_codec(kind: str, checkpoint: str | None, sha256: str | None, codebooks: int, device: str,
               random_weights: bool = False):
    """One codec per executor process and setting (tasks reuse it)."""
    device = device_of(device)
    if kind == "encodec":
        return EncodecCodec(checkpoint, sha256, codebooks, device, random_weights)
    from tokenize_jobs.audio_codec import ProjectCodec, default_folder

    folder = Path(checkpoint) if checkpoint else default_folder()
    if not (folder / "report.json").exists():
        raise CodecError(f"project audio codec not found at {folder}: run `python -m tokenize_jobs.audio_codec "
                         "train` (make setup does), or set audio.tokenizer.checkpoint")
    codec = ProjectCodec(folder, device)
    if sha256 and codec.report["model_sha256"] != sha256:
        raise CodecError(f"{folder}: model sha256 is not the configured {sha256}")
    if codebooks > codec.levels:
        raise CodecError(f"the project codec has {codec.levels} levels, {codebooks} asked")
    return codec


def from_config(tcfg: dict, random_weights: bool = False):
    return load_codec(tcfg["codec"], tcfg["checkpoint"], tcfg["checkpoint_sha256"], tcfg["codebooks"],
                      tcfg["device"], random_weights)


class Layout:
    """Codes <-> vocabulary ids for one vocabulary, codebook count and marker interval."""

    def __init__(self, vocab: Vocab, levels: int, marker_s: float, frame_rate: float = FRAME_RATE):
        sp = vocab.specials
        self.start, self.end = sp["<|audio_start|>"], sp["<|audio_end|>"]
        self.offsets = np.array([vocab.codebook(f"audio_l{k}")[0] for k in range(levels)], np.int64)
        self.width = vocab.codebook("audio_l0")[1] - self.offsets[0]
        self.markers = np.array([sp[f"<|t_{i}|>"] for i in range(vocab.manifest["params"]["timestamps"])], np.int64)
        self.every = max(1, int(round(marker_s * frame_rate)))
        self.levels = levels

    def ids(self, codes: np.ndarray) -> np.ndarray:
        """(levels, T) codes -> int32 ids."""
        k, t = codes.shape
        if k != self.levels or (codes.size and (codes.min() < 0 or codes.max() >= self.width)):
            raise CodecError(f"codes of shape {codes.shape} do not fit {self.levels} levels of {self.width}")
        n_mark = -(-t // self.every)
        if n_mark > self.markers.size:
            raise CodecError(f"{t} frames need {n_mark} time markers; the vocabulary has {self.markers.size}")
        frames = (codes.T.astype(np.int64) + self.offsets)              # (T, K)
        out = []
        for m in range(n_mark):
            out.append([self.markers[m]])
            out.append(frames[m * self.every:(m + 1) * self.every].reshape(-1))
        return np.concatenate([[self.start], *out, [self.end]]).astype(np.int32)

    def codes(self, ids: np.ndarray) -> np.ndarray:
        """The inverse of ids(): (levels, T) codes."""
        ids = np.asarray(ids, np.int64)
        if ids.size < 2 or ids[0] != self.start or ids[-1] != self.end:
            raise CodecError("not an audio segment: no <|audio_start|> ... <|audio_end|>")
        body = ids[1:-1][~np.isin(ids[1:-1], self.markers)]
        frames = body.reshape(-1, self.levels) - self.offsets
        return frames.T


def tokens_per_second(levels: int, marker_s: float, frame_rate: float = FRAME_RATE) -> float:
    """Ids per second of audio: levels x frame rate, plus one marker per marker_s."""
    return levels * frame_rate + 1.0 / marker_s
