"""One audio file -> its speech segments with signals and fingerprints (no decisions).

One streaming pass: decode (pipelines/audio/decode.py) at 16 kHz for VAD and levels and at
8 kHz for the fingerprints; per-frame statistics only are kept (pipelines/audio/vad.py).
File-level checks raise `AudioError` with a reason code; segment decisions come later,
from config thresholds over the stored signals (pipelines/audio/decide.py).

Signals per segment: duration_s, speech_ratio (webrtcvad frames called speech),
level_dbfs (RMS level over the segment, dB re full scale; not LUFS: no K-weighting),
peak_dbfs, clipping_ratio (samples at full scale), snr_db (a percentile estimate: the
90th over the 10th percentile of frame power within the segment and its surroundings; 0
for steady noise, high for speech with pauses), and with silero on, silero_ratio (frames
silero-vad calls speech) and vad_agreement (frames where the two detectors agree).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipelines.audio import fingerprint as fpm
from pipelines.audio.decode import AudioError, StreamInfo, decode
from pipelines.audio.vad import FrameStats, SegmentRule, segments

EPS = 1e-10
SNR_CONTEXT_S = 2.0     # surroundings that the noise floor of a segment's SNR may come from


@dataclass(frozen=True)
class AnalyzeParams:
    chunk_s: float = 10.0
    frame_ms: int = 30
    aggressiveness: int = 2
    silero: bool = False
    rule: SegmentRule = SegmentRule()
    min_sample_rate: int = 8000
    min_duration_s: float = 1.0
    silent_dbfs: float = -60.0
    max_file_clipping: float = 0.05
    truncated_share: float = 0.9


def db(x: float) -> float:
    return float(10 * np.log10(max(x, EPS)))


def analyze(src, p: AnalyzeParams, declared_s: float | None = None) -> tuple[dict, list[dict]]:
    """(file signals, segments) of one file; `declared_s` is the duration ingest probed."""
    info = StreamInfo(0, 0, "", None)
    stats = FrameStats(p.frame_ms, p.aggressiveness, p.silero)
    fp = fpm.Fingerprinter()
    peak = 0.0
    for x16, x8 in decode(src, (16000, fpm.RATE), p.chunk_s, info):
        if info.sample_rate < p.min_sample_rate:
            raise AudioError("audio_low_sample_rate", f"{info.sample_rate} Hz is under the floor of "
                             f"{p.min_sample_rate} Hz")
        if x16.size:
            peak = max(peak, float(np.abs(x16).max()))
        stats.feed(x16)
        fp.feed(x8)
    f = stats.result()
    duration = info.decoded_s
    stated = declared_s or info.declared_s
    file = {"sample_rate": info.sample_rate, "channels": info.channels, "codec": info.codec,
            "duration_s": duration, "declared_s": stated, "decode_errors": info.decode_errors,
            "peak_dbfs": 20 * np.log10(max(peak, EPS)),
            "speech_ratio": float(f["speech"].mean()) if f["speech"].size else 0.0,
            "clipping_ratio": float(f["clipped"].sum()) / max(1, stats.samples)}
    if info.decoded_samples == 0:
        raise AudioError("audio_empty", "the audio stream decodes to no samples")
    if stated and duration < p.truncated_share * stated and stated - duration > 0.5:
        raise AudioError("audio_truncated", f"{duration:.2f} s decoded of {stated:.2f} s declared"
                         + (f" ({info.extra['demux_error']})" if "demux_error" in info.extra else ""))
    if duration < p.min_duration_s:
        raise AudioError("audio_too_short", f"{duration:.2f} s is under the minimum of {p.min_duration_s} s")
    if file["peak_dbfs"] < p.silent_dbfs:
        raise AudioError("audio_silent", f"peak level {file['peak_dbfs']:.1f} dBFS is under {p.silent_dbfs} dBFS")
    if file["clipping_ratio"] > p.max_file_clipping:
        raise AudioError("audio_clipped", f"{file['clipping_ratio']:.1%} of the samples are at full scale")
    segs = segments(f["speech"], f["power"], f["frame_s"], p.rule)
    if not segs:
        raise AudioError("audio_no_speech", "no voice activity anywhere in the file")
    prints = fp.result()
    return file, [_segment(i, a, b, f, prints) for i, (a, b) in enumerate(segs)]


def _segment(i: int, a: int, b: int, f: dict, prints: np.ndarray) -> dict:
    fs, n = f["frame_s"], f["frame_samples"]
    power, speech = f["power"], f["speech"]
    ctx = int(SNR_CONTEXT_S / fs)
    around = power[max(0, a - ctx):min(power.size, b + ctx)]
    start, end = a * fs, b * fs
    lo, hi = fpm.frame_range(start, end)
    seg = {"segment": i, "start_s": round(start, 3), "end_s": round(end, 3), "duration_s": round(end - start, 3),
           "speech_ratio": float(speech[a:b].mean()),
           "level_dbfs": db(float(power[a:b].mean())),
           "peak_dbfs": db(float(power[a:b].max())),
           "clipping_ratio": float(f["clipped"][a:b].sum()) / ((b - a) * n),
           "snr_db": db(float(np.percentile(around, 90))) - db(float(np.percentile(around, 10))),
           "fingerprint": prints[lo:hi].astype("<u4").tobytes()}
    if f["silero"] is not None:
        sil = f["silero"][a:b] >= 0.5
        seg["silero_ratio"] = float(sil.mean())
        seg["vad_agreement"] = float((sil == speech[a:b]).mean())
    return seg
