"""One video -> its shots with signals and keyframe hashes (no decisions).

One streaming pass over the video stream (pipelines/video/decode.py, frames subsampled to
about `width` px, deblocking skipped): PySceneDetect's detector (ContentDetector by default, or
AdaptiveDetector / HashDetector) is fed every frame and returns the cut frames; per frame
only a few numbers are kept (time, mean and spread of luminance, mean absolute difference
to the previous frame), and at `hash_fps` a pHash + dHash of the frame (imagehash, as the
image stage hashes images). Shots longer than `max_shot_s` are cut evenly. A second
streaming pass over the audio track (pipelines/audio/decode.py at 16 kHz, webrtcvad as in
the audio stage) gives each shot its speech share and level.

Signals per shot: duration_s, frames, fps (decoded frames per second: variable-rate files
show it), width, height (as displayed), motion (mean absolute luminance change between
consecutive frames, 0-255), static_share (frames changing by under `static_motion`: slides,
still images), black_share (frames darker than `black_luma` with little spread), luma,
has_audio, speech_ratio, audio_level_dbfs, audio_offset_s (where the audio track starts
on the container's timeline: the tokens step cuts the track at the shot's times minus it).
The shot's fingerprint is the hashes of the sample nearest its middle (16 bytes, the image
stage's layout).

File checks raise `VideoError`: video_too_short, video_low_resolution, video_truncated
(decoded under `truncated_share` of the declared duration), and decode.py's reasons.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pipelines.video.decode import VideoError, VideoInfo, frames


@dataclass(frozen=True)
class ShotParams:
    detector: str = "content"             # content | adaptive | hash (PySceneDetect)
    threshold: float = 27.0               # the detector's own threshold (content 27, adaptive 3.0, hash 0.35)
    min_scene_s: float = 0.5
    max_shot_s: float = 10.0
    width: int = 160                      # analysis frames (display width, px)
    hash_fps: float = 4.0
    static_motion: float = 0.5
    black_luma: float = 20.0
    min_duration_s: float = 1.0
    min_side: int = 128
    truncated_share: float = 0.9
    audio_frame_ms: int = 30
    audio_aggressiveness: int = 2
    audio_chunk_s: float = 10.0


def detector(p: ShotParams, rate: float):
    from scenedetect.detectors import AdaptiveDetector, ContentDetector, HashDetector

    min_len = max(1, int(round(p.min_scene_s * (rate or 25.0))))
    if p.detector == "content":
        return ContentDetector(threshold=p.threshold, min_scene_len=min_len)
    if p.detector == "adaptive":
        return AdaptiveDetector(adaptive_threshold=p.threshold, min_scene_len=min_len)
    if p.detector == "hash":
        return HashDetector(threshold=p.threshold, min_scene_len=min_len)
    raise ValueError(f"unknown shot detector {p.detector!r}")


def frame_hashes(bgr: np.ndarray) -> bytes:
    from PIL import Image

    from pipelines.image.decode import Decoded, hashes

    im = Image.fromarray(np.ascontiguousarray(bgr[:, :, ::-1]))
    return hashes(Decoded(im, im.width, im.height, None))


def split_long(bounds: list[int], times: np.ndarray, end_s: float, max_s: float) -> list[int]:
    """Frame boundaries with every shot longer than max_s cut evenly (at the nearest frames)."""
    out = [bounds[0]]
    for a, b in zip(bounds, bounds[1:]):
        t0 = times[a]
        t1 = times[b] if b < times.size else end_s
        k = math.ceil((t1 - t0) / max_s - 1e-9) if t1 - t0 > max_s else 1
        for j in range(1, k):
            cut = int(np.searchsorted(times, t0 + j * (t1 - t0) / k))
            if out[-1] < cut < b:
                out.append(cut)
        out.append(b)
    return out


def video_pass(open_src: Callable, p: ShotParams) -> tuple[VideoInfo, dict]:
    """The video stream's frame statistics, cut frames and timed hash samples."""
    import cv2
    from scenedetect.common import FrameTimecode

    info = VideoInfo()
    det, cuts = None, []
    times, luma, spread, motion = [], [], [], []
    samples: list[tuple[float, bytes]] = []
    prev, next_hash = None, -1.0
    with open_src() as fh:
        for t, img in frames(fh, info, width=p.width, fmt="small-bgr", fast=True):
            if det is None:
                det = detector(p, info.rate)
                rate = info.rate or 25.0
            n = len(times)
            cuts += [c.frame_num for c in det.process_frame(FrameTimecode(n, fps=rate), img)]
            g = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).astype(np.float32)
            luma.append(float(g.mean()))
            spread.append(float(g.std()))
            motion.append(float(np.abs(g - prev).mean()) if prev is not None else 0.0)
            prev = g
            if t >= next_hash:
                samples.append((t, frame_hashes(img)))
                next_hash = t + 1.0 / p.hash_fps
            times.append(t)
    if det is not None and times:
        cuts += [c.frame_num for c in det.post_process(FrameTimecode(len(times) - 1, fps=rate))]
    return info, {"times": np.asarray(times), "luma": np.asarray(luma), "spread": np.asarray(spread),
                  "motion": np.asarray(motion), "cuts": sorted({c for c in cuts if 0 < c < len(times)}),
                  "samples": samples, "sample_times": np.asarray([t for t, _ in samples])}


def audio_pass(open_src: Callable, p: ShotParams) -> dict | None:
    """webrtcvad frames (speech, power) of the audio track at 16 kHz; None without one."""
    from pipelines.audio.decode import AudioError, decode
    from pipelines.audio.vad import FrameStats

    stats = FrameStats(p.audio_frame_ms, p.audio_aggressiveness)
    try:
        with open_src() as fh:
            for (x16,) in decode(fh, (16000,), p.audio_chunk_s):
                stats.feed(x16)
    except AudioError as e:
        return None if e.reason == "audio_no_stream" else {"error": f"{e.reason}: {e}"}
    return stats.result()


def analyze(open_src: Callable, p: ShotParams) -> tuple[VideoInfo, list[dict]]:
    """(file info, shots) of one video; `open_src()` opens it (a fresh binary file each call)."""
    info, v = video_pass(open_src, p)
    if info.frames == 0:
        raise VideoError("video_undecodable", "the video stream decodes to no frames"
                         + (f" ({info.extra['demux_error']})" if "demux_error" in info.extra else ""))
    duration = info.end_s - (info.first_s or 0.0)
    stated = info.declared_s
    if stated and duration < p.truncated_share * stated and stated - duration > 0.5:
        raise VideoError("video_truncated", f"{duration:.2f} s decoded of {stated:.2f} s declared"
                         + (f" ({info.extra['demux_error']})" if "demux_error" in info.extra else ""))
    if duration < p.min_duration_s:
        raise VideoError("video_too_short", f"{duration:.2f} s is under the minimum of {p.min_duration_s} s")
    if min(info.width, info.height) < p.min_side:
        raise VideoError("video_low_resolution", f"{info.width}x{info.height}: the shorter side is under "
                                                 f"{p.min_side} px")
    audio = audio_pass(open_src, p)
    times = v["times"]
    bounds = split_long([0, *v["cuts"], times.size], times, info.end_s, p.max_shot_s)
    shots = [_shot(i, a, b, times, info, v, audio, p) for i, (a, b) in enumerate(zip(bounds, bounds[1:]))]
    if audio is not None and "error" in audio:
        info.extra["audio_error"] = audio["error"]
    return info, shots


def _nearest(samples: list, times: np.ndarray, t: float):
    """The sample nearest time t (the earlier on a tie), by bisection: shots x samples would be
    quadratic in a long video's length."""
    k = int(np.searchsorted(times, t))
    near = [j for j in (k - 1, k) if 0 <= j < len(samples)]
    return samples[min(near, key=lambda j: (abs(times[j] - t), times[j]))]


def _shot(i: int, a: int, b: int, times: np.ndarray, info: VideoInfo, v: dict, audio: dict | None,
          p: ShotParams) -> dict:
    start = float(times[a])
    end = float(times[b]) if b < times.size else info.end_s
    n = b - a
    dur = end - start
    moves = v["motion"][a + 1:b]              # the shot's first frame differs from the last shot's
    dark = (v["luma"][a:b] < p.black_luma) & (v["spread"][a:b] < p.black_luma / 2)
    key = _nearest(v["samples"], v["sample_times"], (start + end) / 2)
    out = {"segment": i, "start_s": round(start, 3), "end_s": round(end, 3), "duration_s": round(dur, 3),
           "frames": float(n), "fps": n / dur if dur > 0 else 0.0, "width": float(info.width),
           "height": float(info.height), "motion": float(moves.mean()) if moves.size else 0.0,
           "static_share": float((moves < p.static_motion).mean()) if moves.size else 1.0,
           "black_share": float(dark.mean()), "luma": float(v["luma"][a:b].mean()), "fingerprint": key[1],
           "has_audio": 0.0, "speech_ratio": 0.0, "audio_level_dbfs": -120.0, "audio_offset_s": info.audio_start_s}
    if audio is not None and "error" not in audio and audio["speech"].size:
        fs, off = audio["frame_s"], info.audio_start_s
        lo, hi = int(max(0.0, start - off) / fs), max(int(max(0.0, start - off) / fs) + 1, int((end - off) / fs))
        power = audio["power"][lo:hi]
        out.update(has_audio=1.0, speech_ratio=float(audio["speech"][lo:hi].mean()) if power.size else 0.0,
                   audio_level_dbfs=float(10 * np.log10(max(float(power.mean()) if power.size else 0.0, 1e-12))))
    return out
