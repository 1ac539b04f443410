"""The video stage's executor functions (mapInArrow): videos -> shots, videos -> tokens.

`analyze_fn`: one bronze.media video row -> its shots (signals, keyframe hashes, the rules'
decision) or one file reject, in the audio stage's segment schema (a shot is a segment of
its video). `tokens_fn`: one video with its shots to tokenize -> per shot a video token row
(frames at `fps`, the image stage's VQ) and, when the video has sound, an audio token row of
the same time range (the audio stage's codec and cutting), each or a reject. Files open from
their inline bytes or from source_uri as seekable streams, never read whole.
"""
from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.audio.decode import AudioError
from pipelines.audio.stage import file_reject, open_media, per_row_fn, segment_row
from pipelines.clean.rules import Rule
from pipelines.errors import reraise_environment
from pipelines.ingest.streams import UnreadableInput
from pipelines.video.decode import VideoError, VideoInfo, frames, to_array
from pipelines.video.shots import ShotParams, analyze

FILE_COLUMNS = ["doc_id", "source_uri", "dataset", "license", "content_sha256", "ingest_run_id", "duration_s",
                "lang_hint", "content"]
ERROR_REASONS = ("video_error",)      # the library failing, not the file: the error budget
SIGNAL_NAMES = ("duration_s", "frames", "fps", "width", "height", "motion", "static_share", "black_share", "luma",
                "has_audio", "speech_ratio", "audio_level_dbfs", "audio_offset_s")


def params_from_config(v: dict) -> ShotParams:
    s, f, a = v["shots"], v["file"], v["audio"]
    return ShotParams(detector=s["detector"], threshold=s["threshold"], min_scene_s=s["min_scene_s"],
                      max_shot_s=s["max_shot_s"], width=s["width"], hash_fps=s["hash_fps"],
                      static_motion=s["static_motion"], black_luma=s["black_luma"],
                      min_duration_s=f["min_duration_s"], min_side=f["min_side"],
                      truncated_share=f["truncated_share"], audio_frame_ms=a["frame_ms"],
                      audio_aggressiveness=a["aggressiveness"], audio_chunk_s=a["chunk_s"])


def analyze_row(row: dict, p: ShotParams, rules: list[Rule]) -> list[dict]:
    try:
        _, shots = analyze(lambda: open_media(row["source_uri"], row["content"]), p)
    except VideoError as e:
        return [file_reject(row, e.reason, str(e))]
    except (UnreadableInput, FileNotFoundError, PermissionError) as e:
        return [file_reject(row, "unreadable_file", str(e))]
    except Exception as e:     # the library, not the data: counted against the error budget
        reraise_environment(e)
        return [file_reject(row, "video_error", f"{type(e).__name__}: {e}")]
    return [segment_row(row, s, {k: float(s[k]) for k in SIGNAL_NAMES}, rules) for s in shots]


def analyze_fn(p: ShotParams, rules: list[Rule]):
    return per_row_fn(analyze_row, p, rules)


# -- tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenParams:
    frames: dict                  # video.tokens
    image_tokenizer: dict         # image.tokenizer (the visual VQ, its input size and resize policy)
    vq_folder: str                # resolved on the driver
    audio_tokenizer: dict         # audio.tokenizer (the codec; markers every slice instead of marker_s)
    manifest: dict
    chunk_s: float


TOKENS = pa.schema([("doc_id", pa.string()), ("modality", pa.string()), ("pair_doc_id", pa.string()),
                    ("tokens", pa.list_(pa.int32())), ("n_tokens", pa.int64()), ("tokenizer", pa.string()),
                    ("start_s", pa.float64()), ("end_s", pa.float64()), ("frames", pa.int64()),
                    ("seconds", pa.float64()), ("encode_s", pa.float64()), ("reason", pa.string()),
                    ("detail", pa.string())])


def audio_row_id(shot_id: str) -> str:
    """The id of a shot's audio track row: derived from the shot's, unique across the lake."""
    return hashlib.sha256(f"{shot_id}#audio".encode()).hexdigest()[:32]


def _rejects(ids: list[str], reason: str, detail: str, modality: str) -> list[dict]:
    return [{"doc_id": i, "modality": modality, "reason": reason, "detail": detail[:500]} for i in ids]


class _Frames:
    """The shots' frames: sampled by time, converted, encoded in batches, laid out per shot."""

    def __init__(self, tp: TokenParams, vq, layout):
        self.tp, self.vq, self.layout = tp, vq, layout
        t = tp.image_tokenizer
        self.size, self.mode, self.batch = t["size"], t["resize"], tp.frames["batch"]
        self.name = f"{vq.version}-{t['size']}{t['resize']}@{tp.frames['fps']:g}fps"

    def rows(self, fh, shots: list[dict]) -> list[dict]:
        from tokenize_jobs.video import centre_crop, input_width, letterbox, sample, sample_times

        fps = self.tp.frames["fps"]
        targets, owner = [], []
        for i, s in enumerate(shots):
            for t in sample_times(s["start_s"], s["end_s"], fps):
                targets.append(t)
                owner.append(i)
        codes: list[list[np.ndarray]] = [[] for _ in shots]
        spent = [0.0] * len(shots)
        pending: list[tuple[int, np.ndarray]] = []

        def flush():
            t0 = time.perf_counter()
            out = self.vq.encode([x for _, x in pending])
            share = (time.perf_counter() - t0) / len(pending)
            for (i, _), c in zip(pending, out):
                codes[i].append(c)
                spent[i] += share
            pending.clear()

        info = VideoInfo()
        width = None
        for k, frame in sample(frames(fh, info, fmt=None), targets):
            if width is None:
                width = input_width(info.width, info.height, self.size, self.mode)
            img = to_array(frame, info, width, "rgb24")
            x = centre_crop(img, self.size) if self.mode == "crop" else letterbox(img, self.size)
            if pending and (len(pending) >= self.batch or pending[-1][0] != owner[k]):
                flush()                  # batches never mix shots: a shot's codes depend on it alone
            pending.append((owner[k], x))
        if pending:
            flush()
        per_shot = np.bincount(np.asarray(owner, np.int64), minlength=len(shots))
        out = []
        for i, s in enumerate(shots):
            want = int(per_shot[i])
            if len(codes[i]) < want or not want:
                out += _rejects([s["doc_id"]], "video_frames_unreadable",
                                f"{len(codes[i])} of {want} frames decoded", "video")
                continue
            ids = self.layout.ids(np.stack(codes[i]))
            out.append({"doc_id": s["doc_id"], "modality": "video", "pair_doc_id": s["audio_id"],
                        "tokens": ids.tolist(), "n_tokens": int(ids.size), "tokenizer": self.name,
                        "start_s": s["start_s"], "end_s": s["end_s"], "frames": want,
                        "seconds": s["end_s"] - s["start_s"], "encode_s": spent[i]})
        return out


def _audio_rows(tp: TokenParams, codec, layout, name: str, fh, shots: list[dict], offset: float) -> list[dict]:
    """The audio track of each shot's [start, end), cut from one streaming decode at 24 kHz and
    padded with silence to the shot's length where the track ends first."""
    from pipelines.audio.stage import cut_segments
    from tokenize_jobs.audio import RATE

    spans = [(max(0.0, s["start_s"] - offset), max(0.0, s["end_s"] - offset)) for s in shots]
    out = []
    for k, x in cut_segments(fh, spans, RATE, tp.chunk_s):
        s = shots[k]
        if x.size < RATE * 0.05:
            out += _rejects([s["audio_id"]], "video_audio_unreadable", f"{x.size} samples decoded", "audio")
            continue
        real_s = x.size / RATE
        want = int(round((s["end_s"] - s["start_s"]) * RATE))
        if x.size < want:          # a track ending before the picture (encoder padding, a shorter track):
            x = np.pad(x, (0, want - x.size))     # silence, so that every slice has its audio frames
        t0 = time.perf_counter()
        (c,) = codec.encode_batch([x], tp.audio_tokenizer["codebooks"])
        ids = layout.ids(c)
        out.append({"doc_id": s["audio_id"], "modality": "audio", "pair_doc_id": s["doc_id"],
                    "tokens": ids.tolist(), "n_tokens": int(ids.size), "tokenizer": name,
                    "start_s": s["start_s"], "end_s": s["end_s"], "frames": int(c.shape[1]),
                    "seconds": real_s, "encode_s": time.perf_counter() - t0})
    return out


def tokens_fn(tp: TokenParams):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from tokenize_jobs.audio import Layout as AudioLayout
        from tokenize_jobs.audio import device_of
        from tokenize_jobs.audio import from_config as codec_from_config
        from tokenize_jobs.image_vq import load_vq
        from tokenize_jobs.video import Layout
        from tokenize_jobs.vocab import Vocab

        vocab = Vocab(tp.manifest)
        t = tp.image_tokenizer
        vq = load_vq(tp.vq_folder, t["checkpoint_sha256"], device_of(t["device"]))
        framer = _Frames(tp, vq, Layout(vocab, tp.frames["slice_frames"]))
        slice_s = tp.frames["slice_frames"] / tp.frames["fps"]
        codec = alayout = aname = None
        for batch in batches:
            out = []
            for row in batch.to_pylist():
                shots = sorted(row["shots"], key=lambda s: s["start_s"])
                for s in shots:
                    s["audio_id"] = audio_row_id(s["doc_id"]) if s["has_audio"] else None
                try:
                    with open_media(row["source_uri"], row["content"]) as fh:
                        out += framer.rows(fh, shots)
                except VideoError as e:
                    out += _rejects([s["doc_id"] for s in shots], e.reason, str(e), "video")
                except (UnreadableInput, FileNotFoundError, PermissionError) as e:
                    out += _rejects([s["doc_id"] for s in shots], "unreadable_file", str(e), "video")
                sound = [s for s in shots if s["audio_id"]]
                if not sound:
                    continue
                if codec is None:
                    codec = codec_from_config(tp.audio_tokenizer)
                    alayout = AudioLayout(vocab, tp.audio_tokenizer["codebooks"], slice_s, codec.frame_rate)
                    aname = f"{codec.version}x{tp.audio_tokenizer['codebooks']}"
                try:
                    with open_media(row["source_uri"], row["content"]) as fh:
                        out += _audio_rows(tp, codec, alayout, aname, fh, sound, sound[0]["audio_offset_s"] or 0.0)
                except (AudioError, UnreadableInput, FileNotFoundError, PermissionError) as e:
                    done = {r["doc_id"] for r in out}
                    out += _rejects([s["audio_id"] for s in sound if s["audio_id"] not in done],
                                    "video_audio_unreadable", str(e), "audio")
            yield pa.RecordBatch.from_pylist(out, schema=TOKENS)
    return run
