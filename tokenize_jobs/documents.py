"""gold.tokens rows -> the documents the model trains on, with where each may be cut.

    text    the row's ids
    audio   a speech segment: <|audio_start|> <|t_0|> codes .. <|t_1|> .. <|audio_end|>
    image   an image-text pair: caption ids then the image's, or the image's then the
            caption's (export.documents.caption_first, by hash); without a caption the image
    video   a shot as time-slice groups: for each slice k, its marker, its frames, and the
            audio of the same second(s) of the shot's audio row:
            <|video_start|> <|t_k|> <|frame|> c.. (slice_frames frames)
                            <|audio_start|> a.. <|audio_end|> <|t_k+1|> .. <|video_end|>

Both rows of a shot carry <|t_k|> at k x slice_s from the shot's start (tokenize_jobs/video.py),
so slice k of each covers the same interval: they are matched by marker, never by position.

`cuts`: positions where a document longer than a sequence may be cut (the packer uses
them): every time marker after the first, for audio and video; none for images (never cut);
null for text (cut anywhere). A cut piece keeps its start and end tokens and says it
continues with <|cont|> (tokenize_jobs/pack.py).
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from tokenize_jobs.vocab import MODALITIES, TextTokenizer, Vocab

IN_COLUMNS = ("doc_id", "segment", "modality", "dataset", "quality_tier", "lang", "tokens", "text",
              "pair_tokens", "caption_first", "order_key", "start_s")
DOCS = pa.schema([("doc_id", pa.string()), ("segment", pa.int32()), ("modality", pa.string()),
                  ("dataset", pa.string()), ("quality_tier", pa.string()), ("lang", pa.string()),
                  ("order_key", pa.string()), ("start_s", pa.float64()),
                  ("tokens", pa.list_(pa.int32())), ("cuts", pa.list_(pa.int32())), ("n_tokens", pa.int64()),
                  *[(f"n_{m}", pa.int64()) for m in MODALITIES]])


class DocumentError(ValueError):
    """Token rows that do not make a well-formed document."""


def _slices(ids: np.ndarray, markers: dict[int, int], start: int, end: int) -> dict[int, np.ndarray]:
    """{k: the ids after <|t_k|> up to the next marker} of a <start> .. <end> row."""
    if ids.size < 2 or ids[0] != start or ids[-1] != end:
        raise DocumentError("a media row without its start and end tokens")
    body = ids[1:-1]
    at = [i for i, x in enumerate(body.tolist()) if x in markers]
    if not at or at[0] != 0:
        raise DocumentError("a media row whose body does not begin with a time marker")
    return {markers[int(body[a])]: body[a + 1:b] for a, b in zip(at, [*at[1:], body.size])}


class Builder:
    """Document assembly for one vocabulary (one per task)."""

    def __init__(self, vocab: Vocab, max_caption_tokens: int):
        sp = vocab.specials
        self.vocab = vocab
        self.sp = sp
        n = vocab.manifest["params"]["timestamps"]
        self.marker_ids = np.array([sp[f"<|t_{i}|>"] for i in range(n)], np.int32)
        self.markers = {int(t): i for i, t in enumerate(self.marker_ids)}
        self.max_caption = max_caption_tokens
        self._text = None

    def text_ids(self, text: str) -> np.ndarray:
        if self._text is None:
            self._text = TextTokenizer(self.vocab)
        return np.asarray(self._text.encode(text)[:self.max_caption], np.int32)

    def image(self, ids: np.ndarray, caption: str | None, caption_first: bool) -> tuple[np.ndarray, list[int]]:
        if not caption:
            return ids, []
        cap = self.text_ids(caption)
        return (np.concatenate([cap, ids]) if caption_first else np.concatenate([ids, cap])), []

    def audio(self, ids: np.ndarray) -> tuple[np.ndarray, list[int]]:
        _slices(ids, self.markers, self.sp["<|audio_start|>"], self.sp["<|audio_end|>"])   # well-formed
        at = np.flatnonzero(np.isin(ids, self.marker_ids))
        return ids, [int(a) for a in at[1:]]

    def video(self, ids: np.ndarray, audio: np.ndarray | None) -> tuple[np.ndarray, list[int]]:
        sp = self.sp
        frames = _slices(ids, self.markers, sp["<|video_start|>"], sp["<|video_end|>"])
        sound = (_slices(audio, self.markers, sp["<|audio_start|>"], sp["<|audio_end|>"])
                 if audio is not None else {})
        parts, cuts, pos = [np.array([sp["<|video_start|>"]], np.int32)], [], 1
        a0, a1 = np.array([sp["<|audio_start|>"]], np.int32), np.array([sp["<|audio_end|>"]], np.int32)
        for k in sorted(set(frames) | set(sound)):
            if pos > 1:
                cuts.append(pos)
            group = [self.marker_ids[k:k + 1], frames.get(k, np.empty(0, np.int32))]
            if k in sound:
                group += [a0, sound[k], a1]
            g = np.concatenate(group)
            parts.append(g)
            pos += g.size
        parts.append(np.array([sp["<|video_end|>"]], np.int32))
        return np.concatenate(parts).astype(np.int32), cuts

    def build(self, modality: str, ids: np.ndarray, text: str | None, pair: np.ndarray | None,
              caption_first: bool) -> tuple[np.ndarray, list[int] | None]:
        if modality == "text":
            return ids, None
        if modality == "image":
            return self.image(ids, text, caption_first)
        if modality == "audio":
            return self.audio(ids)
        if modality == "video":
            return self.video(ids, pair)
        raise DocumentError(f"unknown modality {modality!r}")


def documents_fn(manifest: dict, max_caption_tokens: int):
    """mapInArrow body: IN_COLUMNS rows -> DOCS rows (one document per row)."""

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        vocab = Vocab(manifest)
        b_ = Builder(vocab, max_caption_tokens)
        for b in batches:
            cols = {c: b.column(c).to_pylist() for c in IN_COLUMNS if c not in ("tokens", "pair_tokens")}
            toks, pairs = b.column("tokens"), b.column("pair_tokens")
            out = {f.name: [] for f in DOCS}
            for i in range(b.num_rows):
                ids = toks[i].values.to_numpy(zero_copy_only=False).astype(np.int32)
                pair = pairs[i].values.to_numpy(zero_copy_only=False).astype(np.int32) if pairs[i].is_valid else None
                try:
                    doc, cuts = b_.build(cols["modality"][i], ids, cols["text"][i], pair,
                                         bool(cols["caption_first"][i]))
                except DocumentError as e:
                    raise DocumentError(f"{cols['modality'][i]} row {cols['doc_id'][i]}: {e}") from None
                counts = np.bincount(vocab.modality_of(doc), minlength=len(MODALITIES))
                for c in ("doc_id", "segment", "modality", "dataset", "quality_tier", "lang", "order_key", "start_s"):
                    out[c].append(cols[c][i])
                out["tokens"].append(doc)
                out["cuts"].append(cuts)
                out["n_tokens"].append(int(doc.size))
                for j, m in enumerate(MODALITIES):
                    out[f"n_{m}"].append(int(counts[j]))
            yield pa.RecordBatch.from_pydict(out, schema=DOCS)
    return run
