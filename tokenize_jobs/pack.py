"""Sequence packing: documents (each ending in <|eod|>) into fixed-length sequences.

Best fit over a bounded window of open sequences: a document goes into the open sequence
with the least room that still holds it, else into a new one; when more than `open_max`
are open, the fullest is closed. A document that fits in one sequence is never split.
One longer than a sequence is cut:
- with cut points (media: time-slice boundaries, tokenize_jobs/documents.py), at the last
  cut that fits, each piece a well-formed document of its own: its start token, <|cont|>
  after it when the piece continues an earlier one, the slices, <|cont|> before the end
  token when a later piece continues it, the end token, <|eod|>. A slice is never split;
  one longer than a sequence is an error. Pieces are packed like documents;
- without (text), into full-sequence pieces, the tail packed like any document.
The spans record every piece (piece k of n), so nothing is split unmarked. The tail of
each sequence is padded with <|pad|> (the trainer masks its loss).

The output is deterministic for a given input order. Document boundaries are the <|eod|>
tokens (the trainer resets positions and attention there) and the spans.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Bin:
    order: int
    room: int
    parts: list = field(default_factory=list)   # (doc_id, copy, piece, n_pieces, array)


@dataclass
class Packed:
    tokens: np.ndarray          # int32, exactly seq_length
    spans: list[tuple]          # (doc_id, copy, start, length, piece, n_pieces)
    n_pad: int


class PackError(ValueError):
    """A document that cannot be packed at this sequence length."""


def pieces(ids: np.ndarray, cuts, seq_length: int, eod: int, cont: int | None) -> list[np.ndarray]:
    """A document's pieces, each ending in <|eod|> and at most seq_length long."""
    ids = np.asarray(ids, np.int32)
    if ids.size + 1 <= seq_length:
        return [np.append(ids, np.int32(eod))]
    if cuts is None:                 # text: full-sequence pieces, the last ends in eod
        full = np.append(ids, np.int32(eod))
        return [full[k:k + seq_length] for k in range(0, full.size, seq_length)]
    if not len(cuts):
        raise PackError(f"a document of {ids.size} tokens that may not be cut does not fit seq_length {seq_length}")
    if cont is None:
        raise PackError("cutting a media document needs the <|cont|> token")
    start, end = ids[:1], ids[-1:]
    bounds = [1, *[int(c) for c in cuts], ids.size - 1]     # slice boundaries inside start .. end
    out, a, i = [], 1, 0
    while a < ids.size - 1:
        first = a == 1
        room = seq_length - 3 - (0 if first else 1)          # start, end, eod, leading cont
        if ids.size - 1 - a <= room:                         # the rest, no trailing cont
            b = ids.size - 1
        else:
            b = None
            for j in range(i + 1, len(bounds) - 1):
                if bounds[j] - a <= room - 1:                # trailing cont
                    b, i2 = bounds[j], j
                else:
                    break
            if b is None:
                raise PackError(f"a time slice of {bounds[i + 1] - a} tokens does not fit seq_length {seq_length}")
            i = i2
        head = start if first else np.array([start[0], cont], np.int32)
        tail = np.array([end[0], eod], np.int32) if b == ids.size - 1 else np.array([cont, end[0], eod], np.int32)
        out.append(np.concatenate([head, ids[a:b], tail]).astype(np.int32))
        a = b
    return out


def pack(docs: Iterable[tuple], seq_length: int, eod: int, pad: int, open_max: int = 64,
         cont: int | None = None) -> Iterator[Packed]:
    """docs: (doc_id, copy, token ids without eod[, cuts]) in a deterministic order; cuts:
    None (text: cut anywhere), or the positions a media document may be cut at."""
    open_bins: list[_Bin] = []
    counter = 0

    def emit(b: _Bin) -> Packed:
        out = np.full(seq_length, pad, np.int32)
        pos, spans = 0, []
        for doc_id, copy, piece, n_pieces, arr in b.parts:
            out[pos:pos + arr.size] = arr
            spans.append((doc_id, copy, pos, int(arr.size), piece, n_pieces))
            pos += arr.size
        return Packed(out, spans, seq_length - pos)

    def place(b: _Bin | None, part: tuple, size: int):
        if b is None:
            nonlocal counter
            b = _Bin(counter, seq_length)
            counter += 1
            open_bins.append(b)
        b.parts.append(part)
        b.room -= size
        if b.room == 0:
            open_bins.remove(b)
            return emit(b)
        if len(open_bins) > open_max:
            fullest = min(open_bins, key=lambda x: (x.room, x.order))
            open_bins.remove(fullest)
            return emit(fullest)
        return None

    for doc in docs:
        doc_id, copy, ids = doc[:3]
        parts = pieces(ids, doc[3] if len(doc) > 3 else None, seq_length, eod, cont)
        n_pieces = len(parts)
        for k, part in enumerate(parts):
            if part.size == seq_length:                 # a full piece: a sequence of its own
                done = place(None, (doc_id, copy, k, n_pieces, part), part.size)
            else:
                best = None
                for b in open_bins:
                    if b.room >= part.size and (best is None or b.room < best.room):
                        best = b
                done = place(best, (doc_id, copy, k, n_pieces, part), part.size)
            if done is not None:
                yield done
    for b in sorted(open_bins, key=lambda x: x.order):
        yield emit(b)


def unpack(tokens: np.ndarray, eod: int, pad: int) -> list[np.ndarray]:
    """The documents (or pieces) of one packed sequence, split at <|eod|>, padding dropped."""
    body = tokens[tokens != pad]
    cuts = np.flatnonzero(body == eod)
    out, start = [], 0
    for c in cuts:
        out.append(body[start:c])
        start = c + 1
    if start < body.size:
        out.append(body[start:])   # a piece of a long document (no eod yet)
    return out
