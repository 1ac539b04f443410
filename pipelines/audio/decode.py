"""Streaming decode: any container PyAV (FFmpeg) reads -> mono float32 chunks at fixed rates.

The file is never held whole: packets are decoded in order, downmixed to mono by
libswresample (PyAV's AudioResampler, at the stream's own rate), gathered into chunks of
`chunk_s` seconds and resampled with soxr's streaming resampler (`ResampleStream`, the
state carries across chunks) to each rate the caller asks for (24 kHz for the codec,
16 kHz for webrtcvad). Memory is a chunk per rate, whatever the file's length.

Errors are `AudioError`s with a reason code: audio_undecodable (FFmpeg cannot open or
decode it), audio_no_stream (a container without an audio stream).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np


class AudioError(ValueError):
    """Input that cannot be used, with the reason code that goes to ops.rejects."""

    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass
class StreamInfo:
    sample_rate: int
    channels: int
    codec: str
    declared_s: float | None          # the container's duration, when it states one
    decoded_samples: int = 0          # at the native rate, counted while decoding
    decode_errors: int = 0            # packets FFmpeg could not decode (skipped)
    extra: dict = field(default_factory=dict)

    @property
    def decoded_s(self) -> float:
        return self.decoded_samples / self.sample_rate if self.sample_rate else 0.0


def _open(src):
    import av

    try:
        return av.open(src, "r", metadata_errors="ignore")
    except (av.FFmpegError, ValueError, EOFError, UnicodeDecodeError) as e:
        raise AudioError("audio_undecodable", f"FFmpeg cannot open it: {type(e).__name__}: {e}") from None


def packet_frames(container, stream, info, max_errors: int, fail) -> Iterator[list]:
    """The decoded frames of each packet of `stream`, packet by packet. A packet that does not
    decode is skipped and counted in `info.decode_errors` (over `max_errors`: raise
    `fail(detail)`); a container broken past some point ends there (`info.extra["demux_error"]`).
    Shared by the audio and video decoders; `info` is either's StreamInfo/VideoInfo."""
    import av

    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except (av.FFmpegError, EOFError, ValueError) as e:   # a broken container past this point
            info.decode_errors += 1
            info.extra["demux_error"] = f"{type(e).__name__}: {e}"
            return
        try:
            frames = packet.decode()
        except (av.FFmpegError, ValueError) as e:
            info.decode_errors += 1
            if info.decode_errors > max_errors:
                raise fail(f"over {max_errors} packets do not decode: {e}") from None
            continue
        yield frames


def decode(src, rates: tuple[int, ...], chunk_s: float = 10.0, info: StreamInfo | None = None,
           max_errors: int = 50) -> Iterator[tuple[np.ndarray, ...]]:
    """Yield tuples of mono float32 arrays, one per rate in `rates`, chunk by chunk.
    `src` is a path or a binary file object. `info` (optional, filled in) gets the stream's
    native rate, channels, codec, declared duration and decoded sample count."""
    import av
    import soxr

    container = _open(src)
    with container:
        streams = container.streams.audio
        if not streams:
            raise AudioError("audio_no_stream", "the container has no audio stream")
        stream = streams[0]
        ctx = stream.codec_context
        rate = int(ctx.sample_rate or stream.rate or 0)
        if rate <= 0:
            raise AudioError("audio_undecodable", "the audio stream states no sample rate")
        declared = None
        if stream.duration is not None and stream.time_base is not None:
            declared = float(stream.duration * stream.time_base)
        elif container.duration:
            declared = container.duration / 1e6
        if info is None:
            info = StreamInfo(rate, 0, "", None)
        info.sample_rate, info.channels = rate, int(ctx.channels or 0)
        info.codec, info.declared_s = ctx.name, declared
        mono = av.AudioResampler(format="flt", layout="mono", rate=rate)
        streams_out = [soxr.ResampleStream(rate, r, 1, dtype="float32", quality="HQ") if r != rate else None
                       for r in rates]
        want = max(1, int(chunk_s * rate))
        buf: list[np.ndarray] = []
        have = 0

        def emit(last: bool):
            nonlocal buf, have
            x = np.concatenate(buf) if buf else np.zeros(0, np.float32)
            buf, have = [], 0
            return tuple(x if s is None else s.resample_chunk(x, last=last) for s in streams_out)

        undecodable = (lambda detail: AudioError("audio_undecodable", detail))   # noqa: E731
        for frames in packet_frames(container, stream, info, max_errors, undecodable):
            for frame in frames:
                for out in mono.resample(frame):
                    a = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    buf.append(a)
                    have += a.size
                    info.decoded_samples += a.size
            if have >= want:
                yield emit(False)
        for out in mono.resample(None):
            a = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            buf.append(a)
            info.decoded_samples += a.size
        yield emit(True)
