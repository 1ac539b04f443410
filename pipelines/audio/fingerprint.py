"""Audio fingerprints in the Haitsma-Kalker style (Haitsma & Kalker, "A Highly Robust Audio
Fingerprinting System", ISMIR 2002), in numpy.

Per frame of 2,048 samples at 8 kHz (256 ms, Hann window), hop 128 samples (16 ms, 62.5
frames/s), the energies of 33 log-spaced bands between 300 and 2,000 Hz give 32 bits:
bit m = 1 when (E[n,m] - E[n,m+1]) - (E[n-1,m] - E[n-1,m+1]) > 0. The bits survive lossy
re-encoding, volume changes and small time offsets (the frames overlap 15/16); two
recordings of the same audio differ in a few percent of bits, unrelated audio in about half.

Why not chromaprint: `fpcalc` is a subprocess per file (and a Debian package on every
executor), while the 16 kHz stream the stage decodes for VAD is already in memory; the
numpy version runs on the decoded chunks and needs nothing else.
"""
from __future__ import annotations

import functools

import numpy as np

from pipelines.dedup.minhash import fmix32

RATE = 8000
FRAME = 2048
HOP = 128
FPS = RATE / HOP            # 62.5 sub-fingerprints per second
LOW_HZ, HIGH_HZ, BANDS = 300.0, 2000.0, 33

_edges = np.geomspace(LOW_HZ, HIGH_HZ, BANDS + 1)
_bins = np.fft.rfftfreq(FRAME, 1 / RATE)
_band_of = np.searchsorted(_edges, _bins, side="right") - 1      # -1 or BANDS: outside 300-2000 Hz
_window = np.hanning(FRAME).astype(np.float32)
_weights = (1 << np.arange(31, -1, -1, dtype=np.uint64)).astype(np.uint64)


def band_energies(frames: np.ndarray) -> np.ndarray:
    """(n, FRAME) float32 frames -> (n, BANDS) band energies."""
    spec = np.abs(np.fft.rfft(frames * _window, axis=1)) ** 2
    return spec[:, _in_bands] @ _membership()    # each band's bins summed: a 0/1 matrix product


_in_bands = (_band_of >= 0) & (_band_of < BANDS)


@functools.lru_cache(maxsize=1)
def _membership() -> np.ndarray:
    m = np.zeros((int(_in_bands.sum()), BANDS), np.float32)
    m[np.arange(m.shape[0]), _band_of[_in_bands]] = 1.0
    return m


def bits(energies: np.ndarray, previous: np.ndarray | None) -> np.ndarray:
    """Sub-fingerprints (uint32) of consecutive frames' band energies; `previous` is the band
    energy row before the first (None at the start of a file: the first frame gives no bits)."""
    e = energies if previous is None else np.vstack([previous[None, :], energies])
    d = e[:, :-1] - e[:, 1:]
    b = (d[1:] - d[:-1]) > 0
    return (b.astype(np.uint64) @ _weights).astype(np.uint32)


class Fingerprinter:
    """Streaming: feed 8 kHz chunks, collect one uint32 per hop. Sub-fingerprint k covers
    samples [(k+1)*HOP, (k+1)*HOP + FRAME) of the 8 kHz stream (its time: (k+1)/FPS s)."""

    def __init__(self):
        self.buf = np.zeros(0, np.float32)
        self.prev: np.ndarray | None = None
        self.out: list[np.ndarray] = []

    def feed(self, x: np.ndarray) -> None:
        self.buf = np.concatenate([self.buf, x.astype(np.float32, copy=False)])
        n = (self.buf.size - FRAME) // HOP + 1
        if n <= 0:
            return
        idx = np.arange(FRAME)[None, :] + HOP * np.arange(n)[:, None]
        e = band_energies(self.buf[idx])
        self.out.append(bits(e, self.prev))
        self.prev = e[-1]
        self.buf = self.buf[n * HOP:]

    def result(self) -> np.ndarray:
        return np.concatenate(self.out) if self.out else np.zeros(0, np.uint32)


def frame_range(start_s: float, end_s: float) -> tuple[int, int]:
    """Sub-fingerprint indices [a, b) whose frames lie inside [start_s, end_s)."""
    a = max(0, int(np.ceil(start_s * FPS)) - 1)
    b = int(np.floor((end_s - FRAME / RATE) * FPS))
    return a, max(a, b)


def bit_error_rate(x: np.ndarray, y: np.ndarray, offset: int, min_overlap: int) -> float:
    """BER of x against y shifted by `offset` (x[i] vs y[i - offset]) over their overlap; 1.0
    when they overlap by fewer than `min_overlap` sub-fingerprints."""
    lo, hi = max(0, offset), min(x.size, y.size + offset)
    if hi - lo < min_overlap:
        return 1.0
    diff = np.bitwise_xor(x[lo:hi], y[lo - offset:hi - offset])
    return float(np.unpackbits(diff.view(np.uint8)).sum()) / (32.0 * (hi - lo))


def index_keys(fp: np.ndarray, share: int) -> tuple[np.ndarray, np.ndarray]:
    """(positions, values) of the sub-fingerprints that are LSH keys: 1 in `share` values, chosen
    by a hash of the value (content-defined, so two copies pick the same frames), never the
    all-0 / all-1 words of silence and steady tones."""
    keep = (fmix32(fp.astype(np.uint32)) % np.uint32(share) == 0) & (fp != 0) & (fp != 0xFFFFFFFF)
    pos = np.nonzero(keep)[0]
    return pos, fp[pos]
