"""Speech the project synthesises itself: espeak-ng (Debian package, installed by the README's
set-up) reading the shipped Debian Installation Guide paragraphs in several languages,
plus generated tone and noise signals. Used to train the project's audio codec, for the
sample's audio files, the tests and the audio benchmark. Deterministic for a seed.
"""
from __future__ import annotations

import random
import shutil
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

from quality_models.training_data import load_texts

VOICES = {"en": "en", "de": "de", "fr": "fr", "es": "es", "zh": "cmn", "ru": "ru", "it": "it", "pt": "pt"}
ESPEAK_RATE = 22050


class SpeechError(RuntimeError):
    pass


def espeak() -> str:
    exe = shutil.which("espeak-ng")
    if not exe:
        raise SpeechError("espeak-ng not found: `make setup` installs it (apt-get install espeak-ng)")
    return exe


def say(text: str, lang: str, speed: int = 160, pitch: int = 50) -> np.ndarray:
    """float32 mono samples at 22,050 Hz of `text` read in `lang`."""
    with tempfile.NamedTemporaryFile(suffix=".wav") as tmp:
        proc = subprocess.run([espeak(), "-v", VOICES.get(lang, lang), "-s", str(speed), "-p", str(pitch),
                               "-w", tmp.name, "--", text], capture_output=True, text=True)
        if proc.returncode:
            raise SpeechError(f"espeak-ng failed for {lang}: {proc.stderr.strip()[:300]}")
        with wave.open(tmp.name) as w:
            data = w.readframes(w.getnframes())
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0


def sentences(lang: str, n: int, seed: int, skip: int = 0) -> list[str]:
    """`n` paragraphs (cut to ~200 characters) of the shipped text in `lang`, after `skip`."""
    paras = load_texts()[lang]
    rng = random.Random(seed)
    picked = [paras[(skip + i) % len(paras)] for i in range(n)]
    rng.shuffle(picked)
    return [p[:200].rsplit(" ", 1)[0] if len(p) > 200 and " " in p[:200] else p[:200] for p in picked]


def speech(lang: str, seconds: float, seed: int = 0, skip: int = 0, rate: int = ESPEAK_RATE) -> np.ndarray:
    """About `seconds` of speech in `lang` with pauses between sentences, resampled to `rate`."""
    import soxr

    rng = np.random.default_rng(seed)
    out, have, k = [], 0, 0
    while have < seconds * ESPEAK_RATE:
        for s in sentences(lang, 4, seed + k, skip + 4 * k):
            x = say(s, lang, speed=int(rng.integers(140, 190)), pitch=int(rng.integers(30, 70)))
            out += [x, np.zeros(int(ESPEAK_RATE * rng.uniform(0.4, 1.0)), np.float32)]
            have += x.size + out[-1].size
            if have >= seconds * ESPEAK_RATE:
                break
        k += 1
    y = np.concatenate(out)[: int(seconds * ESPEAK_RATE)]
    return y if rate == ESPEAK_RATE else soxr.resample(y, ESPEAK_RATE, rate).astype(np.float32)


def tones_and_noise(seconds: float, rate: int, seed: int = 0) -> np.ndarray:
    """Harmonic tones (gliding pitch), band-limited noise and silence, alternating."""
    rng = np.random.default_rng(seed)
    out, have = [], 0
    while have < seconds * rate:
        n = int(rate * rng.uniform(0.5, 2.0))
        t = np.arange(n) / rate
        kind = rng.integers(3)
        if kind == 0:
            f0 = rng.uniform(90, 400) * (1 + 0.2 * np.sin(2 * np.pi * rng.uniform(0.2, 3) * t))
            phase = 2 * np.pi * np.cumsum(f0) / rate
            x = sum(np.sin(k * phase) / k for k in range(1, 8))
        elif kind == 1:
            x = np.convolve(rng.normal(size=n), np.ones(int(rng.integers(1, 8))), "same")
        else:
            x = np.zeros(n)
        x = 0.3 * rng.uniform(0.2, 1.0) * x / (np.abs(x).max() + 1e-9)
        out.append(x.astype(np.float32))
        have += n
    return np.concatenate(out)[: int(seconds * rate)]


def write_wav(path: Path, x: np.ndarray, rate: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes((np.clip(x, -1, 1) * 32767).astype("<i2").tobytes())
    return path


def encode_file(path: Path, x: np.ndarray, rate: int, codec: str, bitrate: int | None = None) -> Path:
    """Write mono float samples with PyAV (mp3, libopus, aac, flac, ...); the container from the name."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        out_rate = 48000 if codec == "libopus" else rate
        st = out.add_stream(codec, rate=out_rate, layout="mono")
        if bitrate:
            st.bit_rate = bitrate
        if out_rate != rate:
            import soxr
            x = soxr.resample(x, rate, out_rate).astype(np.float32)
        pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")
        step = 4096
        for i in range(0, pcm.size, step):
            frame = av.AudioFrame.from_ndarray(pcm[None, i:i + step], format="s16", layout="mono")
            frame.sample_rate = out_rate
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path
