"""MinHash signatures computed with numpy over whole batches of documents.

The signature of a document equals datasketch's
`MinHash(num_perm, seed=seed, hashfunc=shingle_hash32)` (scheme "affine32", the default
since datasketch 2.0) updated with the document's shingles (`shingles()`), bit for bit:
the same permutations (a odd, b, drawn from RandomState(seed)), the same MurmurHash3
finalizer pre-mix, uint32 wrap-around arithmetic. tests/test_dedup_units.py proves it.

Shingles: word n-grams (default 5) of the lower-cased word tokens for space-delimited
text; character n-grams (default 5) for Chinese/Japanese. Each token is hashed once
(xxh32) and n-gram hashes are combined in numpy, so the per-shingle Python work of the
usual approach (build a string, hash it) disappears; `shingle_hash32` computes the same
value from a shingle's bytes for datasketch.
"""
from __future__ import annotations

import re

import numpy as np
import xxhash

from pipelines.clean.signals import is_cjk

_WORD = re.compile(r"\w+", re.U)
_CHAR = re.compile(r"[^\W_]", re.U)
_DIGITS = re.compile(r"\d")
FNV_OFFSET, FNV_PRIME = 0x811C9DC5, 0x01000193
MAX32 = np.uint32(0xFFFFFFFF)


def tokens(text: str, lang: str | None) -> list[str]:
    """Normalized tokens: lower case, digits folded to 0, punctuation and spaces dropped."""
    t = _DIGITS.sub("0", text.lower())
    if is_cjk(lang):
        return _CHAR.findall(t)   # every letter/digit character: CJK characters, and Latin letters one by one
    return _WORD.findall(t)


def token_hashes(toks: list[str]) -> np.ndarray:
    return np.fromiter((xxhash.xxh32_intdigest(t) for t in toks), dtype=np.uint32, count=len(toks))


def shingle_hashes(th: np.ndarray, n: int) -> np.ndarray:
    """Hashes of the n-grams of a token-hash array (a shorter document is one shingle)."""
    if th.size == 0:
        return th
    n = min(n, th.size)
    m = th.size - n + 1
    h = np.full(m, FNV_OFFSET, dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(n):
            h = (h * np.uint32(FNV_PRIME)) ^ th[j:j + m]
    return h


def shingles(toks: list[str], n: int) -> list[bytes]:
    """The shingles as bytes (tokens joined by one space): what datasketch is fed in tests."""
    if not toks:
        return []
    n = min(n, len(toks))
    return [" ".join(toks[i:i + n]).encode("utf-8") for i in range(len(toks) - n + 1)]


def shingle_hash32(b: bytes) -> int:
    """The hash `shingle_hashes` gives a shingle, from its bytes (datasketch's hashfunc)."""
    h = FNV_OFFSET
    for t in b.decode("utf-8").split(" "):
        h = ((h * FNV_PRIME) & 0xFFFFFFFF) ^ xxhash.xxh32_intdigest(t)
    return h


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix for affine32)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))


class MinHasher:
    def __init__(self, num_perm: int = 112, seed: int = 1, ngram: int = 5, cjk_ngram: int = 5,
                 bands: int = 14, rows: int = 8):
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm = {num_perm}")
        gen = np.random.RandomState(seed)
        self.a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        self.b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        self.num_perm, self.seed, self.ngram, self.cjk_ngram = num_perm, seed, ngram, cjk_ngram
        self.bands, self.rows = bands, rows

    def shingles_of(self, toks: list[str], lang: str | None) -> np.ndarray:
        return shingle_hashes(token_hashes(toks), self.cjk_ngram if is_cjk(lang) else self.ngram)

    def doc_shingles(self, text: str, lang: str | None) -> np.ndarray:
        return self.shingles_of(tokens(text, lang), lang)

    def signatures(self, shingle_sets: list[np.ndarray], chunk: int = 1 << 16) -> np.ndarray:
        """(len(shingle_sets), num_perm) uint32 signatures; an empty set gives all 0xFFFFFFFF."""
        out = np.full((len(shingle_sets), self.num_perm), MAX32, dtype=np.uint32)
        a, b = self.a[:, None], self.b[:, None]
        i = 0
        while i < len(shingle_sets):   # batches of ~chunk shingles: bounded memory, few numpy calls
            j, total = i, 0
            while j < len(shingle_sets) and (total == 0 or total + shingle_sets[j].size <= chunk):
                total += shingle_sets[j].size
                j += 1
            sizes = np.array([s.size for s in shingle_sets[i:j]])
            nonempty = np.flatnonzero(sizes)
            if nonempty.size:
                hv = fmix32(np.concatenate([shingle_sets[i + k] for k in nonempty]))
                phv = np.empty((self.num_perm, hv.size), dtype=np.uint32)
                with np.errstate(over="ignore"):
                    np.multiply(a, hv[None, :], out=phv)   # in place: no temporaries of 112 x chunk
                    np.add(phv, b, out=phv)
                starts = np.concatenate(([0], np.cumsum(sizes[nonempty])[:-1]))
                out[i + nonempty] = np.minimum.reduceat(phv, starts, axis=1).T
            i = j
        return out

    def band_hashes(self, sigs: np.ndarray) -> np.ndarray:
        """(n, bands) int64: one hash per band of `rows` signature values (the LSH buckets)."""
        n = sigs.shape[0]
        x = sigs[:, : self.bands * self.rows].reshape(n, self.bands, self.rows).astype(np.uint64)
        h = np.full((n, self.bands), np.uint64(0xCBF29CE484222325))
        with np.errstate(over="ignore"):
            for k in range(self.rows):
                h = (h ^ x[:, :, k]) * np.uint64(0x100000001B3)
            h = h ^ (np.arange(self.bands, dtype=np.uint64)[None, :] << np.uint64(56))
        return h.view(np.int64)
