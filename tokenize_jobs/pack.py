"""Sequence packing: documents (each ending in <|eod|>) into fixed-length sequences.

Best fit over a bounded window of open sequences: a document goes into the open sequence
with the least room that still holds it, else into a new one; when more than `open_max`
are open, the fullest is closed. A document that fits in one sequence is never split. One
longer than a sequence is cut into full-sequence pieces and its tail packed like any
document; the spans record every piece (piece k of n), so nothing is split unmarked.
The tail of each sequence is padded with <|pad|> (the trainer masks its loss).

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


def pack(docs: Iterable[tuple[str, int, np.ndarray]], seq_length: int, eod: int, pad: int,
         open_max: int = 64) -> Iterator[Packed]:
    """docs: (doc_id, copy, token ids without eod) in a deterministic order."""
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

    for doc_id, copy, ids in docs:
        ids = np.asarray(ids, np.int32)
        full = np.empty(ids.size + 1, np.int32)
        full[:-1] = ids
        full[-1] = eod
        n_pieces = -(-full.size // seq_length)
        for k in range(n_pieces - 1):           # whole-sequence pieces of a long document
            b = _Bin(counter, 0, [(doc_id, copy, k, n_pieces, full[k * seq_length:(k + 1) * seq_length])])
            counter += 1
            yield emit(b)
        tail = full[(n_pieces - 1) * seq_length:]
        best = None
        for b in open_bins:
            if b.room >= tail.size and (best is None or b.room < best.room):
                best = b
        if best is None:
            best = _Bin(counter, seq_length)
            counter += 1
            open_bins.append(best)
        best.parts.append((doc_id, copy, n_pieces - 1, n_pieces, tail))
        best.room -= tail.size
        if best.room == 0:
            open_bins.remove(best)
            yield emit(best)
        elif len(open_bins) > open_max:
            fullest = min(open_bins, key=lambda x: (x.room, x.order))
            open_bins.remove(fullest)
            yield emit(fullest)
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
