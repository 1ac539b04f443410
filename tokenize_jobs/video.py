"""Video shots -> frames sampled at a fixed rate -> visual VQ codes -> ids in the video range.

Frames are sampled by presentation time, not by index: at `fps` (6) the targets are
start + j/fps for every j with the target inside the shot, and each target takes the frame
being displayed then (the last one whose time is <= the target), so a variable-rate or
25/30/60 fps source gives the same 6 frames per second. Each frame goes through the image
stage's VQ tokenizer (the same model, the same 256x256 input policy), its codes mapped into
the vocabulary's `video` range.

Layout of a shot, grouped in time slices of `slice_frames` frames (6 = one second):

    <|video_start|> <|t_0|> <|frame|> c0 .. c255 <|frame|> .. (6 frames) <|t_1|> .. <|video_end|>

`<|t_k|>` marks slice k, k x slice_s seconds after the shot's start (its start_s); the shot's
audio track row (the audio codec's layout) carries a marker every slice_s too, so slice k of
both rows covers the same [start + k slice_s, start + (k+1) slice_s) and the export can
interleave them slice by slice. Why 1 s slices by default: 6 frames and 75 Encodec frames
are whole numbers (the smallest slice with both whole is 1/3 s: 2 frames + 25 audio frames,
set slice_frames=2 for finer packing at 3 markers per second); one second is the user's
rate unit (256 x 6 = 1,536 video tokens/s) and the audio stage's marker interval already.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from tokenize_jobs.vocab import Vocab


def sample_times(start_s: float, end_s: float, fps: float) -> list[float]:
    """start + j/fps for j = 0, 1, .. while inside [start, end)."""
    n = max(0, int(np.ceil((end_s - start_s) * fps - 1e-6)))
    return [start_s + j / fps for j in range(n)]


def sample(frames: Iterable[tuple[float, object]], targets: list[float],
           eps: float = 1e-4) -> Iterator[tuple[int, object]]:
    """(target index, frame) for each target time (sorted): the frame displayed at it, i.e.
    the last one with time <= target (the first frame for targets before it). Streaming: one
    frame is held."""
    k, prev = 0, None
    for t, f in frames:
        while k < len(targets) and t > targets[k] + eps:
            yield k, (prev if prev is not None else f)
            k += 1
        if k >= len(targets):
            return
        prev = f
    while k < len(targets) and prev is not None:
        yield k, prev
        k += 1


def centre_crop(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    y, x = (h - size) // 2, (w - size) // 2
    return np.ascontiguousarray(img[y:y + size, x:x + size])


def letterbox(img: np.ndarray, size: int) -> np.ndarray:
    h, w = img.shape[:2]
    out = np.full((size, size, 3), 255, np.uint8)
    y, x = (size - h) // 2, (size - w) // 2
    out[y:y + h, x:x + w] = img
    return out


def input_width(width: int, height: int, size: int, mode: str) -> int:
    """The display width to scale frames to: shorter side to `size` (crop), longer (pad)."""
    scale = size / (min(width, height) if mode == "crop" else max(width, height))
    return max(2, int(np.ceil(width * scale / 2)) * 2) if mode == "crop" else max(2, int(round(width * scale)))


class Layout:
    """Frame codes <-> vocabulary ids for one vocabulary and slice length."""

    def __init__(self, vocab: Vocab, slice_frames: int):
        sp = vocab.specials
        self.start, self.end, self.frame = sp["<|video_start|>"], sp["<|video_end|>"], sp["<|frame|>"]
        self.offset, end = vocab.codebook("video")
        self.width = end - self.offset
        self.markers = np.array([sp[f"<|t_{i}|>"] for i in range(vocab.manifest["params"]["timestamps"])], np.int64)
        self.slice_frames = slice_frames

    def ids(self, codes: np.ndarray) -> np.ndarray:
        """(frames, h, w) codes -> int32 ids."""
        n = codes.shape[0]
        if codes.size and (codes.min() < 0 or codes.max() >= self.width):
            raise ValueError(f"codes outside the video codebook of {self.width}")
        n_slices = -(-n // self.slice_frames)
        if n_slices > self.markers.size:
            raise ValueError(f"{n} frames need {n_slices} time markers; the vocabulary has {self.markers.size}")
        flat = codes.reshape(n, -1).astype(np.int64) + self.offset
        per = np.concatenate([np.full((n, 1), self.frame), flat], axis=1)       # <|frame|> + codes
        out = [[self.start]]
        for k in range(n_slices):
            out += [[self.markers[k]], per[k * self.slice_frames:(k + 1) * self.slice_frames].reshape(-1)]
        out.append([self.end])
        return np.concatenate(out).astype(np.int32)

    def codes(self, ids: np.ndarray, side: int) -> np.ndarray:
        """The inverse of ids(): (frames, side, side) codes."""
        ids = np.asarray(ids, np.int64)
        if ids.size < 2 or ids[0] != self.start or ids[-1] != self.end:
            raise ValueError("not a video shot: no <|video_start|> ... <|video_end|>")
        body = ids[1:-1][~np.isin(ids[1:-1], self.markers)]
        per = body.reshape(-1, 1 + side * side)
        if not (per[:, 0] == self.frame).all():
            raise ValueError("a frame without its <|frame|> marker")
        return (per[:, 1:] - self.offset).reshape(-1, side, side)

    def slices(self, ids: np.ndarray) -> list[tuple[int, int]]:
        """[a, b) positions of each slice (its marker first) inside a shot's ids."""
        ids = np.asarray(ids)
        at = np.flatnonzero(np.isin(ids, self.markers))
        return [(int(a), int(b)) for a, b in zip(at, [*at[1:], ids.size - 1])]


def tokens_per_second(fps: float, codes_per_frame: int, slice_frames: int) -> float:
    """Ids per second of video: per frame its codes and <|frame|>, one marker per slice."""
    return fps * (codes_per_frame + 1) + fps / slice_frames
