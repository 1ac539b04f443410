"""MinHash signatures computed with numpy over whole batches of documents.

The signature of a document equals datasketch's
`MinHash(num_perm, seed=seed, hashfunc=shingle_hash32)` (scheme "affine32", the default
since datasketch 2.0) updated with the document's shingles (`shingles()`), bit for bit:
the same permutations (a odd, b, drawn from RandomState(seed)), the same MurmurHash3
finalizer pre-mix, uint32 wrap-around arithmetic. tests/test_dedup_units.py proves it.

Shingles: word n-grams (default 5) of the lower-cased word tokens for space-delimited
text; character n-grams (default 5) for Chinese/Japanese. `Tokenizer` finds the tokens of
a whole Arrow batch at once (code-point tables over one UTF-32 array) and hashes each with
a polynomial over its code points computed from prefix sums; n-gram hashes are combined
in numpy. No Python call per token or per shingle remains. `tokens`, `token_hash` and
`shingle_hash32` compute the same values one document / shingle at a time, for datasketch
and the tests. Token hashing is scheme 2 (SCHEME); scheme 1 hashed each token with xxh32
in Python, and an index made with it is refused (its signatures differ).
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
POLY, LEN_K = 0x01000193, 0x9E3779B9     # token hash: polynomial base (odd: invertible mod 2^32), length mix
POLY_INV = pow(POLY, -1, 1 << 32)
MAX32 = np.uint32(0xFFFFFFFF)
SCHEME = 2                               # token hashing scheme: part of the dedup params an index is made with


def tokens(text: str, lang: str | None) -> list[str]:
    """Normalized tokens: lower case, digits folded to 0, punctuation and spaces dropped."""
    t = _DIGITS.sub("0", text.lower())
    if is_cjk(lang):
        return _CHAR.findall(t)   # every letter/digit character: CJK characters, and Latin letters one by one
    return _WORD.findall(t)


def token_hash(tok: str) -> int:
    """A token's hash: fmix32(polynomial hash of its code points + length * K), mod 2^32.
    `Tokenizer` computes the same values for a whole batch of documents with numpy."""
    h = 0
    for c in tok:
        h = (h * POLY + ord(c)) & 0xFFFFFFFF
    return int(fmix32(np.array([(h + len(tok) * LEN_K) & 0xFFFFFFFF], dtype=np.uint32))[0])


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
        h = ((h * FNV_PRIME) & 0xFFFFFFFF) ^ token_hash(t)
    return h


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer (datasketch's pre-mix for affine32)."""
    with np.errstate(over="ignore"):
        h = h ^ (h >> np.uint32(16))
        h = h * np.uint32(0x85EBCA6B)
        h = h ^ (h >> np.uint32(13))
        h = h * np.uint32(0xC2B2AE35)
        return h ^ (h >> np.uint32(16))


class Tokenizer:
    """`tokens` + `token_hash` for a whole batch: the texts joined by NUL into one UTF-32
    array; code-point tables for \\w (str.isalnum or _), letters/digits, decimal digits (folded
    to 0); token boundaries from the masks; polynomial token hashes from prefix sums (base
    POLY is odd, so POLY^-i exists mod 2^32). One process-wide instance (tables ~10 MB)."""

    _one = None

    def __init__(self):
        cps = range(0x110000)
        self.word = np.fromiter((chr(c).isalnum() or c == 95 for c in cps), dtype=bool, count=0x110000)
        self.char = self.word.copy()
        self.char[95] = False
        self.fold = np.arange(0x110000, dtype=np.uint32)
        self.fold[np.fromiter((chr(c).isdecimal() for c in cps), dtype=bool, count=0x110000)] = 48
        self.word[0] = self.char[0] = False
        self._grow(1 << 20)

    @classmethod
    def get(cls) -> Tokenizer:
        if cls._one is None:
            cls._one = Tokenizer()
        return cls._one

    def _grow(self, n: int) -> None:
        with np.errstate(over="ignore"):
            self.pinv = np.cumprod(np.full(n, POLY_INV, dtype=np.uint32), dtype=np.uint32) * np.uint32(POLY)
            self.ppow = np.cumprod(np.full(n, POLY, dtype=np.uint32), dtype=np.uint32) * np.uint32(POLY_INV)

    def hashes(self, lowered: list[str], cjk: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token hashes of all documents in order, document index of each token)."""
        joined = "\x00".join(t.replace("\x00", " ") for t in lowered)
        cps = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32)
        if cps.size == 0:
            return np.empty(0, np.uint32), np.empty(0, np.int64)
        doc_of = np.cumsum(cps == 0)
        cps = self.fold[cps]
        one = cjk[doc_of]
        m = np.where(one, self.char[cps], self.word[cps])
        prev = np.concatenate(([False], m[:-1]))
        nxt = np.concatenate((m[1:], [False]))
        starts = np.flatnonzero(m & (~prev | one))
        ends = np.flatnonzero(m & (~nxt | one)) + 1
        if cps.size > self.pinv.size:
            self._grow(1 << int(cps.size - 1).bit_length())
        with np.errstate(over="ignore"):
            pref = np.concatenate(([0], np.cumsum(cps * self.pinv[:cps.size], dtype=np.uint32))).astype(np.uint32)
            poly = (pref[ends] - pref[starts]) * self.ppow[ends - 1]
            th = fmix32(poly + (ends - starts).astype(np.uint32) * np.uint32(LEN_K))
        return th, doc_of[starts]


class MinHasher:
    """MinHash signatures and LSH bands (parameters: the config's `dedup` section)."""

    def __init__(self, num_perm: int, seed: int, ngram: int, cjk_ngram: int, bands: int, rows: int):
        if bands * rows > num_perm:
            raise ValueError(f"bands x rows = {bands * rows} exceeds num_perm = {num_perm}")
        gen = np.random.RandomState(seed)
        self.a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
        self.b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
        self.num_perm, self.seed, self.ngram, self.cjk_ngram = num_perm, seed, ngram, cjk_ngram
        self.bands, self.rows = bands, rows

    def doc_shingles(self, text: str, lang: str | None) -> np.ndarray:
        return self.batch([text], [lang])[0]

    def signatures(self, shingle_sets: list[np.ndarray], chunk: int = 1 << 16) -> np.ndarray:
        """(len(shingle_sets), num_perm) uint32 signatures; an empty set gives all 0xFFFFFFFF."""
        sizes = np.array([s.size for s in shingle_sets], dtype=np.int64)
        flat = np.concatenate(shingle_sets) if shingle_sets else np.empty(0, np.uint32)
        return self.signatures_flat(flat.astype(np.uint32, copy=False), sizes, chunk)

    def signatures_flat(self, flat: np.ndarray, sizes: np.ndarray, chunk: int = 1 << 16) -> np.ndarray:
        """Signatures of documents whose shingle hashes lie back to back in `flat` (`sizes` each)."""
        n = sizes.size
        out = np.full((n, self.num_perm), MAX32, dtype=np.uint32)
        a, b = self.a[:, None], self.b[:, None]
        ends = np.cumsum(sizes)
        starts = ends - sizes
        i = 0
        while i < n:   # batches of ~chunk shingles: bounded memory, few numpy calls
            j = max(i + 1, int(np.searchsorted(ends, starts[i] + chunk, side="right")))
            nonempty = i + np.flatnonzero(sizes[i:j])
            if nonempty.size:
                hv = fmix32(flat[starts[i]:ends[j - 1]])
                phv = np.empty((self.num_perm, hv.size), dtype=np.uint32)
                with np.errstate(over="ignore"):
                    np.multiply(a, hv[None, :], out=phv)   # in place: no temporaries of 112 x chunk
                    np.add(phv, b, out=phv)
                out[nonempty] = np.minimum.reduceat(phv, starts[nonempty] - starts[i], axis=1).T
            i = j
        return out

    def batch(self, texts: list[str | None], langs: list[str | None]) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """(flat shingle hashes, shingles per document, normalized-content hashes) of a batch,
        tokenized and hashed with whole-batch numpy operations (`tokens` / `token_hash` /
        `shingle_hashes` give the same values one document at a time)."""
        n = len(texts)
        cjk = np.array([is_cjk(lg) for lg in langs], dtype=bool)
        th, tok_doc = Tokenizer.get().hashes([(t or "").lower() for t in texts], cjk)
        counts = np.bincount(tok_doc, minlength=n)
        offs = np.concatenate(([0], np.cumsum(counts)))
        norm = [xxhash.xxh3_128_hexdigest(th[offs[d]:offs[d + 1]].tobytes()) for d in range(n)]
        want = np.where(cjk, self.cjk_ngram, self.ngram)
        parts, owners = [], []
        for k in np.unique(want):
            k = int(k)
            if th.size >= k:
                h = shingle_hashes(th, k)                      # every window of k tokens, across the batch
                first = np.arange(h.size)
                ok = (tok_doc[first] == tok_doc[first + k - 1]) & (want[tok_doc[first]] == k)
                parts.append(h[ok])
                owners.append(tok_doc[first[ok]])
            for d in np.flatnonzero((want == k) & (counts > 0) & (counts < k)):   # shorter: one shingle
                parts.append(shingle_hashes(th[offs[d]:offs[d + 1]], k))
                owners.append(np.array([d]))
        if not parts:
            return np.empty(0, np.uint32), np.zeros(n, np.int64), norm
        flat, owner = np.concatenate(parts), np.concatenate(owners)
        order = np.argsort(owner, kind="stable")
        return flat[order], np.bincount(owner, minlength=n).astype(np.int64), norm

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
