"""The project's own audio codec: a small convolutional autoencoder with a residual vector
quantizer (vector-quantize-pytorch's ResidualVQ), 8 levels x 1,024 codes, hop 320 at 24 kHz
(75 frames/s, Encodec 24 kHz's frame rate and code layout), trained here on speech
espeak-ng synthesises in eight languages plus tones and noise (quality_models/speech.py).

It stands in for the official Encodec weights in the tests and the sample: nothing is
downloaded. `python -m tokenize_jobs.audio_codec train` (run once by `make setup`) trains
it into ~/.cache/lakehouse/models/audio-codec/<recipe hash>/ (LAKEHOUSE_MODELS_DIR),
with report.json beside it: SI-SNR and log-mel distance of held-out clips (different
sentences, other seeds) against two floors, white noise at the clip's level and the
clip's own long-term spectrum (a "codec" that knows only the average timbre), and the
share of codes used per level. Training refuses to save a model that does not beat both.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

RATE = 24000
HOP = 320                        # 2 * 4 * 5 * 8


@dataclass(frozen=True)
class Recipe:
    """Everything training depends on: its hash names the model folder."""
    channels: int = 16
    dim: int = 64
    levels: int = 8
    codes: int = 1024
    strides: tuple[int, ...] = (2, 4, 5, 8)
    langs: tuple[str, ...] = ("en", "de", "fr", "es", "zh", "ru", "it", "pt")
    seconds_per_lang: float = 40.0
    noise_seconds: float = 60.0
    steps: int = 1500
    batch: int = 16
    crop: int = 9600              # 0.4 s
    lr: float = 2e-3
    wave_weight: float = 400.0    # waveform L1 against the STFT losses: without it the phase is free (SI-SNR ~ noise)
    seed: int = 7
    version: int = 2               # bump when the saved model or report changes form

    def digest(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:12]


def _model(r: Recipe):
    from loguru import logger
    from torch import nn
    from vector_quantize_pytorch import ResidualVQ

    logger.disable("vector_quantize_pytorch")     # its k-means init warns on every small first batch

    chans = [r.channels * m for m in (1, 2, 4, 4, 4)]

    class Res(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.net = nn.Sequential(nn.ELU(), nn.Conv1d(c, c, 3, padding=1), nn.ELU(), nn.Conv1d(c, c, 1))

        def forward(self, x):
            return x + self.net(x)

    enc = [nn.Conv1d(1, chans[0], 7, padding=3)]
    dec = []
    for i, s in enumerate(r.strides):
        p = (s + 1) // 2      # length / s exactly (input padded to a multiple of HOP)
        enc += [Res(chans[i]), nn.ELU(), nn.Conv1d(chans[i], chans[i + 1], 2 * s, stride=s, padding=p)]
        dec = [nn.ELU(), nn.ConvTranspose1d(chans[i + 1], chans[i], 2 * s, stride=s, padding=p,
                                            output_padding=2 * p - s), Res(chans[i])] + dec
    enc += [nn.ELU(), nn.Conv1d(chans[-1], r.dim, 3, padding=1)]
    dec = [nn.Conv1d(r.dim, chans[-1], 3, padding=1)] + dec + [nn.ELU(), nn.Conv1d(chans[0], 1, 7, padding=3)]

    class Codec(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = nn.Sequential(*enc), nn.Sequential(*dec)
            self.rvq = ResidualVQ(dim=r.dim, num_quantizers=r.levels, codebook_size=r.codes, decay=0.9,
                                  kmeans_init=True, kmeans_iters=10, threshold_ema_dead_code=2)

        def forward(self, x):                       # x: (B, 1, n), n a multiple of HOP
            z = self.encoder(x).transpose(1, 2)     # (B, T, dim)
            q, idx, commit = self.rvq(z)
            return self.decoder(q.transpose(1, 2)), idx, commit.sum()

        def encode(self, x):
            z = self.encoder(x).transpose(1, 2)
            _, idx, _ = self.rvq(z)
            return idx                               # (B, T, levels)

        def decode(self, idx):
            q = self.rvq.get_output_from_indices(idx)
            return self.decoder(q.transpose(1, 2))
    return Codec()


def _stft_loss(x, y):
    import torch

    loss = 0.0
    for n in (256, 512, 1024, 2048):
        w = torch.hann_window(n)
        X = torch.stft(x.squeeze(1), n, n // 4, window=w, return_complex=True).abs()
        Y = torch.stft(y.squeeze(1), n, n // 4, window=w, return_complex=True).abs()
        loss = loss + (torch.log(X + 1e-5) - torch.log(Y + 1e-5)).abs().mean() + (X - Y).abs().mean()
    return loss


def training_audio(r: Recipe, held_out: bool = False) -> list[np.ndarray]:
    """Clips at 24 kHz: speech per language (held-out: other paragraphs, other seeds) plus
    tones and noise, peak-normalised at random levels."""
    from quality_models.speech import speech, tones_and_noise

    seconds = 6.0 if held_out else r.seconds_per_lang
    seed = r.seed + (1000 if held_out else 0)
    clips = [speech(lang, seconds, seed=seed + i, skip=200 if held_out else 0, rate=RATE)
             for i, lang in enumerate(r.langs)]
    clips.append(tones_and_noise(seconds if held_out else r.noise_seconds, RATE, seed=seed))
    return clips


def si_snr(ref: np.ndarray, est: np.ndarray) -> float:
    ref, est = ref - ref.mean(), est - est.mean()
    s = (est @ ref) / (ref @ ref + 1e-12) * ref
    return float(10 * np.log10((s @ s + 1e-12) / ((est - s) @ (est - s) + 1e-12)))


def log_mel(x: np.ndarray) -> np.ndarray:
    import torch
    import torchaudio

    mel = torchaudio.transforms.MelSpectrogram(RATE, n_fft=1024, hop_length=256, n_mels=64)
    return torch.log10(mel(torch.from_numpy(x.astype(np.float32))) + 1e-5).numpy()


def mel_distance(ref: np.ndarray, est: np.ndarray) -> float:
    a, b = log_mel(ref), log_mel(est[: ref.size])
    t = min(a.shape[1], b.shape[1])
    return float(np.abs(a[:, :t] - b[:, :t]).mean())


def _floors(ref: np.ndarray, rng) -> dict:
    """What a codec that knows nothing (noise at the level) or only the average timbre (noise
    shaped by the clip's long-term spectrum) would score."""
    noise = rng.normal(0, ref.std() + 1e-9, ref.size).astype(np.float32)
    spec = np.abs(np.fft.rfft(ref))
    shaped = np.fft.irfft(np.fft.rfft(noise) / (np.abs(np.fft.rfft(noise)) + 1e-9) * spec, ref.size).astype(np.float32)
    return {"noise": (si_snr(ref, noise), mel_distance(ref, noise)),
            "spectrum": (si_snr(ref, shaped), mel_distance(ref, shaped))}


class ProjectCodec:
    """A trained project codec loaded from its folder (model.pt + report.json)."""
    name = "project"

    def __init__(self, folder: str | Path, device: str = "cpu"):
        import torch

        folder = Path(folder)
        blob = (folder / "model.pt").read_bytes()
        report = json.loads((folder / "report.json").read_text())
        sha = hashlib.sha256(blob).hexdigest()
        if sha != report["model_sha256"]:
            raise ValueError(f"{folder}/model.pt does not match its report (sha256 {sha[:12]} != "
                             f"{report['model_sha256'][:12]})")
        state = torch.load(folder / "model.pt", map_location="cpu", weights_only=False)
        self.recipe = Recipe(**{k: tuple(v) if isinstance(v, list) else v for k, v in state["recipe"].items()})
        self.model = _model(self.recipe)
        self.model.load_state_dict(state["weights"])
        self.model.eval().to(device)
        self.device, self.report = device, report
        self.version = f"project-audio-{sha[:12]}"
        self.levels, self.codes, self.frame_rate = self.recipe.levels, self.recipe.codes, RATE / HOP

    def encode(self, x: np.ndarray, levels: int) -> np.ndarray:
        """(levels, T) codes of mono float32 samples at 24 kHz; T = ceil(n / 320)."""
        import torch

        pad = (-x.size) % HOP
        t = torch.from_numpy(np.pad(x.astype(np.float32), (0, pad)))[None, None].to(self.device)
        with torch.no_grad():
            idx = self.model.encode(t)[0]
        return idx[:, :levels].T.cpu().numpy().astype(np.int32)

    def encode_batch(self, xs: list[np.ndarray], levels: int) -> list[np.ndarray]:
        """One at a time: the convolutions look ahead, so zero padding would change a segment's
        last frames (the codes must depend on the segment alone)."""
        return [self.encode(x, levels) for x in xs]

    def decode(self, codes: np.ndarray) -> np.ndarray:
        import torch

        if codes.shape[0] < self.levels:
            raise ValueError("the project codec decodes its full code stack only")
        with torch.no_grad():
            y = self.model.decode(torch.from_numpy(codes.T.astype(np.int64))[None].to(self.device))
        return y[0, 0].cpu().numpy()


def models_root() -> Path:
    from quality_models.models import models_dir

    return models_dir() / "audio-codec"


def default_folder(r: Recipe = Recipe()) -> Path:
    return models_root() / r.digest()


def evaluate(codec: ProjectCodec, clips: list[np.ndarray], seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    scores, floors = [], {"noise": [], "spectrum": []}
    used = np.zeros((codec.levels, codec.codes), bool)
    for x in clips:
        codes = codec.encode(x, codec.levels)
        used[np.arange(codec.levels)[:, None], codes] = True
        y = codec.decode(codes)[: x.size]
        scores.append((si_snr(x, y), mel_distance(x, y)))
        for k, v in _floors(x, rng).items():
            floors[k].append(v)
    mean = (lambda xs, i: float(np.mean([v[i] for v in xs])))
    return {"si_snr_db": mean(scores, 0), "mel_distance": mean(scores, 1),
            "per_clip_si_snr_db": [s for s, _ in scores],
            "floors": {k: {"si_snr_db": mean(v, 0), "mel_distance": mean(v, 1)} for k, v in floors.items()},
            "codes_used_per_level": [float(u.mean()) for u in used], "clips": len(clips),
            "seconds": float(sum(x.size for x in clips) / RATE)}


def train(r: Recipe = Recipe(), folder: Path | None = None, log=print) -> Path:
    """Train, evaluate on held-out clips, and save model.pt + report.json (atomically)."""
    import torch

    folder = Path(folder or default_folder(r))
    torch.manual_seed(r.seed)
    rng = np.random.default_rng(r.seed)
    t0 = time.monotonic()
    audio = np.concatenate(training_audio(r))
    log(f"audio codec: {audio.size / RATE:.0f} s of training audio synthesised in {time.monotonic() - t0:.1f} s")
    model = _model(r)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, r.lr, total_steps=r.steps, pct_start=0.1)
    for step in range(r.steps):
        starts = rng.integers(0, audio.size - r.crop, r.batch)
        x = torch.from_numpy(np.stack([audio[s:s + r.crop] for s in starts]))[:, None]
        y, _, commit = model(x)
        loss = _stft_loss(x, y) + (x - y).abs().mean() * r.wave_weight + commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == r.steps - 1:
            log(f"audio codec: step {step} loss {loss.item():.3f} ({time.monotonic() - t0:.0f} s)")
    tmp = folder.with_name(folder.name + ".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    torch.save({"recipe": asdict(r), "weights": model.state_dict()}, tmp / "model.pt")
    sha = hashlib.sha256((tmp / "model.pt").read_bytes()).hexdigest()
    (tmp / "report.json").write_text(json.dumps({"model_sha256": sha}))
    codec = ProjectCodec(tmp)
    report = {"model_sha256": sha, "recipe": asdict(r), "recipe_digest": r.digest(),
              "train_seconds": round(time.monotonic() - t0, 1), "held_out": evaluate(codec, training_audio(r, True))}
    ho = report["held_out"]
    for name, f in ho["floors"].items():
        if not (ho["si_snr_db"] > f["si_snr_db"] + 3 and ho["mel_distance"] < 0.7 * f["mel_distance"]):
            raise RuntimeError(f"the trained codec does not beat the {name} floor: {json.dumps(ho)}")
    (tmp / "report.json").write_text(json.dumps(report, indent=1))
    if folder.exists():
        import shutil
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    log(f"audio codec: {folder} held-out SI-SNR {ho['si_snr_db']:.1f} dB, mel distance {ho['mel_distance']:.3f}")
    return folder


def main(argv: list[str] | None = None) -> int:
    from quality_models.models import train_main

    args = sys.argv[1:] if argv is None else argv
    return train_main("audio codec", "tokenize_jobs.audio_codec", default_folder(), train, args)


if __name__ == "__main__":
    sys.exit(main())
