"""Streaming video decode with PyAV (FFmpeg): frames in presentation order with their times.

The file is never held whole: packets are demuxed and decoded one at a time, each frame
converted by libswscale straight to the size and pixel format asked for (a 160-px BGR frame
for shot detection, the tokenizer's input for sampling) and rotated by the stream's display
matrix (phone videos store portrait frames as landscape plus a rotation), so consumers see
what a player shows. Times are presentation timestamps (pts x time_base) on the container's
timeline, so variable-frame-rate files keep their real timing. The container is always
closed (`with`).

`fast=True` skips the H.264/HEVC deblocking loop filter (FFmpeg's skip_loop_filter): ~20%
faster decoding, frames slightly blockier; used by shot detection only, never for tokens.

Errors are `VideoError`s with a reason code: video_undecodable (FFmpeg cannot open or decode
it), video_no_stream (no video stream), video_codec_unsupported (a stream whose codec the
bundled FFmpeg has no decoder for).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


class VideoError(ValueError):
    """Input that cannot be used, with the reason code that goes to ops.rejects."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass
class VideoInfo:
    width: int = 0                    # as displayed (after rotation)
    height: int = 0
    codec: str = ""
    rotation: int = 0                 # degrees counter-clockwise, from the display matrix
    rate: float = 0.0                 # the stream's average frame rate (0 when unknown)
    declared_s: float | None = None   # the container's duration, when it states one
    frames: int = 0                   # decoded
    first_s: float | None = None      # the first frame's time
    last_s: float | None = None       # the last frame's time
    step_s: float | None = None       # the interval before the last frame (variable rates: its own)
    audio_start_s: float = 0.0        # where the audio track starts on the container's timeline
    decode_errors: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def end_s(self) -> float:
        """Where the last frame ends: its time plus the interval before it (one frame at the
        average rate for a single frame)."""
        if self.last_s is None:
            return 0.0
        step = self.step_s or (1.0 / self.rate if self.rate else 0.0)
        return self.last_s + step


def _open(src):
    import av

    try:
        return av.open(src, "r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, EOFError, UnicodeDecodeError) as e:
        raise VideoError("video_undecodable", f"FFmpeg cannot open it: {type(e).__name__}: {e}") from None


def _video_stream(container):
    import av

    streams = container.streams.video
    if not streams:
        raise VideoError("video_no_stream", "the container has no video stream")
    stream = streams[0]
    name = stream.codec_context.name if stream.codec_context is not None else None
    try:
        av.Codec(name, "r")
    except (av.FFmpegError, ValueError, TypeError) as e:
        tag = getattr(stream.codec_context, "codec_tag", "") if stream.codec_context is not None else ""
        raise VideoError("video_codec_unsupported", f"no decoder for codec {name!r} (tag {tag!r}) in the bundled "
                                                    f"FFmpeg: {e}") from None
    return stream


def rotated(img: np.ndarray, rotation: int) -> np.ndarray:
    """The frame as displayed: rotated counter-clockwise by the display matrix's angle."""
    k = int(round(rotation / 90.0)) % 4
    return np.ascontiguousarray(np.rot90(img, k)) if k else img


def scaled_size(width: int, height: int, rotation: int, target_width: int | None) -> tuple[int, int]:
    """(w, h) to scale the coded frame to so that, once rotated, it is `target_width` wide
    (even sizes, the aspect kept); the coded size when no width is asked."""
    if not target_width:
        return width, height
    turned = int(round(rotation / 90.0)) % 2 == 1
    disp_w, disp_h = (height, width) if turned else (width, height)
    out_w = max(2, target_width // 2 * 2)
    out_h = max(2, int(round(disp_h * out_w / disp_w / 2)) * 2)
    return (out_h, out_w) if turned else (out_w, out_h)


PLANAR_420 = {"yuv420p": False, "yuvj420p": True}     # -> full range (JPEG) or not
# BT.601 Y'CbCr -> B, G, R (libswscale's default for these formats), for Y - 16, Cb - 128, Cr - 128
# (limited range: video) or Y, Cb - 128, Cr - 128 (full range: yuvj)
_BGR_LIMITED = np.array([[1.164, 2.017, 0.0], [1.164, -0.392, -0.813], [1.164, 0.0, 1.596]], np.float32)
_BGR_FULL = np.array([[1.0, 1.772, 0.0], [1.0, -0.344, -0.714], [1.0, 0.0, 1.402]], np.float32)


def small_bgr(frame, info: VideoInfo, width: int) -> np.ndarray:
    """A small BGR frame about `width` px wide, for detection and signals: planar 4:2:0 frames
    are area-averaged plane by plane (OpenCV's INTER_AREA on Y, Cb, Cr at 1/k: ~2x cheaper
    than libswscale's scale + convert; plain subsampling was cheaper still but aliased panning
    texture into false cuts) and converted as libswscale would (BT.601); other formats go
    through libswscale."""
    import cv2

    coded_w = frame.height if int(round(info.rotation / 90.0)) % 2 else frame.width
    step = 2 * max(1, int(round(coded_w / width / 2)))
    full = PLANAR_420.get(frame.format.name)
    if full is None:
        return to_array(frame, info, width, "bgr24")
    h2, w2 = frame.height // 2 * 2, frame.width // 2 * 2
    y, u, v = (np.frombuffer(p, np.uint8).reshape(-1, p.line_size) for p in frame.planes[:3])
    size = (w2 // step, h2 // step)
    ycc = np.dstack([cv2.resize(y[:h2, :w2], size, interpolation=cv2.INTER_AREA),
                     cv2.resize(u[:h2 // 2, :w2 // 2], size, interpolation=cv2.INTER_AREA),
                     cv2.resize(v[:h2 // 2, :w2 // 2], size, interpolation=cv2.INTER_AREA)]).astype(np.float32)
    ycc -= np.array([0.0 if full else 16.0, 128.0, 128.0], np.float32)
    bgr = ycc @ (_BGR_FULL if full else _BGR_LIMITED).T
    return rotated(np.clip(bgr + 0.5, 0, 255).astype(np.uint8), info.rotation)


def to_array(frame, info: VideoInfo, width: int | None, fmt: str = "bgr24") -> np.ndarray:
    """A decoded frame as displayed, `width` px wide (None: full size), in `fmt`."""
    w, h = scaled_size(frame.width, frame.height, info.rotation, width)
    img = frame.reformat(width=w, height=h, format=fmt, interpolation="FAST_BILINEAR" if width else None).to_ndarray()
    return rotated(img, info.rotation)


def frames(src, info: VideoInfo | None = None, width: int | None = None, fmt: str | None = "bgr24",
           fast: bool = False, max_errors: int = 50) -> Iterator[tuple[float, np.ndarray]]:
    """(time_s, frame) per decoded frame, in presentation order; frames `width` wide as
    displayed (None: full size), in `fmt` ('bgr24', 'rgb24', 'gray'; 'small-bgr': about `width`
    wide by `small_bgr`; None: PyAV's VideoFrame, unconverted, for callers that convert only
    some with to_array). `info` is filled in."""
    from pipelines.audio.decode import packet_frames

    info = info if info is not None else VideoInfo()
    with _open(src) as container:
        stream = _video_stream(container)
        ctx = stream.codec_context
        if fast:
            ctx.options = {"skip_loop_filter": "all"}
        ctx.thread_type = "NONE"          # one core per task: Spark runs a task per core
        info.codec = ctx.name
        info.rate = float(stream.average_rate) if stream.average_rate else 0.0
        if stream.duration is not None and stream.time_base is not None:
            info.declared_s = float(stream.duration * stream.time_base)
        elif container.duration:
            info.declared_s = container.duration / 1e6
        audio = container.streams.audio
        if audio and audio[0].start_time is not None and audio[0].time_base is not None:
            info.audio_start_s = float(audio[0].start_time * audio[0].time_base)
        first = True
        undecodable = (lambda detail: VideoError("video_undecodable", detail))   # noqa: E731
        for decoded in packet_frames(container, stream, info, max_errors, undecodable):
            for frame in decoded:
                if first:
                    first = False
                    info.rotation = int(frame.rotation or 0)
                    turned = int(round(info.rotation / 90.0)) % 2 == 1
                    info.width, info.height = (frame.height, frame.width) if turned else (frame.width, frame.height)
                t = frame.time
                if t is None:         # no pts: one interval after the previous frame
                    t = (info.last_s or 0.0) + (1.0 / info.rate if info.rate else 0.04) if info.frames else 0.0
                if info.last_s is not None and t <= info.last_s:     # out-of-order or repeated pts
                    t = info.last_s + 1e-6
                if info.first_s is None:
                    info.first_s = t
                else:
                    info.step_s = t - info.last_s
                info.last_s = t
                info.frames += 1
                if fmt is None:
                    yield t, frame
                elif fmt == "small-bgr":
                    yield t, small_bgr(frame, info, width)
                else:
                    yield t, to_array(frame, info, width, fmt)
