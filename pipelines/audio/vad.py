"""Voice activity per frame (webrtcvad, optionally silero-vad) and the segment rule.

`FrameStats` consumes the 16 kHz stream chunk by chunk and keeps, per VAD frame (10/20/30
ms), the webrtcvad decision, the mean square level and the count of clipped samples: a few
bytes per frame, so a three-hour file costs a few MB, never its samples. With `silero` on,
silero-vad's speech probability per 32 ms window is kept too (webrtcvad calls music
speech; silero-vad tells them apart), resampled onto the VAD frames.

`segments()` turns the frame decisions into speech segments by a deterministic rule (same
frames, same segments): speech runs with gaps shorter than `min_silence_s` bridged, runs
shorter than `min_speech_s` dropped, then consecutive runs packed greedily into segments
of `target_s` (a segment closes at the first silence once it is that long, or before a
run that would take it past `max_s`); a run longer than `max_s` is cut into equal pieces.
Run edges are trimmed of frames far under the run's level (webrtcvad's hangover), so
segment edges sit within a frame of the audio's silences.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RATE = 16000
CLIP = 0.999          # |x| at or above: a clipped sample (measured on the 16 kHz stream)


class FrameStats:
    def __init__(self, frame_ms: int = 30, aggressiveness: int = 2, silero: bool = False):
        import webrtcvad

        if frame_ms not in (10, 20, 30):
            raise ValueError("webrtcvad frames are 10, 20 or 30 ms")
        self.n = RATE * frame_ms // 1000
        self.frame_s = frame_ms / 1000
        self.vad = webrtcvad.Vad(aggressiveness)
        self.buf = np.zeros(0, np.float32)
        self.flags: list[np.ndarray] = []
        self.power: list[np.ndarray] = []
        self.clipped: list[np.ndarray] = []
        self.silero = _Silero() if silero else None
        self.samples = 0

    def feed(self, x: np.ndarray) -> None:
        self.samples += x.size
        if self.silero is not None:
            self.silero.feed(x)
        self.buf = np.concatenate([self.buf, x])
        k = self.buf.size // self.n
        if not k:
            return
        frames = self.buf[: k * self.n].reshape(k, self.n)
        self.buf = self.buf[k * self.n:]
        pcm = (np.clip(frames, -1.0, 1.0) * 32767.0).astype("<i2")
        self.flags.append(np.fromiter((self.vad.is_speech(f.tobytes(), RATE) for f in pcm), bool, k))
        self.power.append((frames.astype(np.float64) ** 2).mean(axis=1))
        self.clipped.append((np.abs(frames) >= CLIP).sum(axis=1).astype(np.int32))

    def result(self) -> dict:
        """speech (bool per frame), power (mean square per frame), clipped (count per frame),
        silero (probability per frame or None), frame_s."""
        cat = (lambda xs, dt: np.concatenate(xs) if xs else np.zeros(0, dt))
        speech = cat(self.flags, bool)
        out = {"speech": speech, "power": cat(self.power, np.float64), "clipped": cat(self.clipped, np.int32),
               "frame_s": self.frame_s, "frame_samples": self.n, "silero": None}
        if self.silero is not None:
            out["silero"] = self.silero.on_frames(speech.size, self.frame_s)
        return out


class _Silero:
    """silero-vad (its PyPI wheel bundles the MIT-licensed weights; nothing is downloaded),
    streaming over 512-sample windows at 16 kHz with its recurrent state."""
    WINDOW = 512

    def __init__(self):
        import torch
        from silero_vad import load_silero_vad

        self.torch = torch
        self.model = load_silero_vad()
        self.model.reset_states()
        self.buf = np.zeros(0, np.float32)
        self.probs: list[float] = []

    def feed(self, x: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, x])
        k = self.buf.size // self.WINDOW
        with self.torch.no_grad():
            for i in range(k):
                w = self.torch.from_numpy(self.buf[i * self.WINDOW:(i + 1) * self.WINDOW].copy())
                self.probs.append(float(self.model(w, RATE)))
        self.buf = self.buf[k * self.WINDOW:]

    def on_frames(self, n_frames: int, frame_s: float) -> np.ndarray:
        p = np.asarray(self.probs, np.float32)
        if not p.size:
            return np.zeros(n_frames, np.float32)
        centers = (np.arange(n_frames) + 0.5) * frame_s
        idx = np.minimum((centers / (self.WINDOW / RATE)).astype(int), p.size - 1)
        return p[idx]


@dataclass(frozen=True)
class SegmentRule:
    min_silence_s: float = 0.3
    min_speech_s: float = 0.25
    target_s: float = 15.0
    max_s: float = 30.0
    edge_db: float = 25.0       # run edges: frames this far under the run's median level are trimmed


def _trim(a: int, b: int, power: np.ndarray, edge_db: float) -> tuple[int, int]:
    """webrtcvad holds speech for a few frames after it ends (its hangover): trim the frames at
    either edge of a run whose level is `edge_db` under the run's median."""
    floor = np.median(power[a:b]) * 10 ** (-edge_db / 10)
    while a < b and power[a] < floor:
        a += 1
    while b > a and power[b - 1] < floor:
        b -= 1
    return a, b


def speech_runs(speech: np.ndarray, power: np.ndarray, frame_s: float, rule: SegmentRule) -> list[tuple[int, int]]:
    """[start, end) frame runs of speech: edges trimmed, short gaps bridged, short runs dropped."""
    if not speech.size:
        return []
    edges = np.diff(np.concatenate([[0], speech.astype(np.int8), [0]]))
    starts, ends = np.nonzero(edges == 1)[0], np.nonzero(edges == -1)[0]
    gap = int(round(rule.min_silence_s / frame_s))
    runs: list[list[int]] = []
    for a, b in zip(starts.tolist(), ends.tolist()):
        a, b = _trim(a, b, power, rule.edge_db)
        if a == b:
            continue
        if runs and a - runs[-1][1] < gap:
            runs[-1][1] = b
        else:
            runs.append([a, b])
    shortest = int(round(rule.min_speech_s / frame_s))
    trimmed = [_trim(a, b, power, rule.edge_db) for a, b in runs]    # again: a bridged run's level is its speech's
    return [(a, b) for a, b in trimmed if b - a >= shortest]


def segments(speech: np.ndarray, power: np.ndarray, frame_s: float, rule: SegmentRule) -> list[tuple[int, int]]:
    """[start, end) frame ranges of the segments (see the module docstring)."""
    target, most = int(round(rule.target_s / frame_s)), max(1, int(round(rule.max_s / frame_s)))
    pieces: list[tuple[int, int]] = []
    for a, b in speech_runs(speech, power, frame_s, rule):
        k = -(-(b - a) // most)                  # pieces of at most max_s, as equal as frames allow
        cuts = [a + (b - a) * i // k for i in range(k + 1)]
        pieces += list(zip(cuts[:-1], cuts[1:]))
    out: list[tuple[int, int]] = []
    for a, b in pieces:
        if out and out[-1][1] - out[-1][0] < target and b - out[-1][0] <= most:
            out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out
