"""Heuristic text measurements (signals), in the definitions of Gopher, C4 and FineWeb.

Space-delimited text is measured in words; Chinese and Japanese (no spaces) in characters,
since whitespace word counts mean nothing there. Every signal is a float so that rules
(pipelines/clean/rules.py) can compare it with config thresholds, and so signals can be
stored once and decisions re-applied later.

References: Rae et al. 2021 (Gopher, appendix A), Raffel et al. 2020 (C4), Penedo et al.
2024 (FineWeb); DataTrove's filters implement the same definitions.
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

CJK_LANGS = frozenset({"zh", "ja", "yue", "wuu", "gan"})
BULLETS = ("•", "●", "○", "■", "□", "▪", "▫", "–", "-", "*", "·", "►", "▶", "→")
ELLIPSIS = ("...", "…")
TERMINAL_PUNCT = (".", "!", "?", '"', "'", "”", "’", "。", "！", "？", "…", "」", "』", "）", ")")
CJK_PUNCT = re.compile("[，。！？；：、“”‘’（）《》【】…—「」『』]")
STOP_WORDS = {
    "en": {"the", "be", "to", "of", "and", "that", "have", "with"},
    "de": {"der", "die", "das", "und", "zu", "mit", "ist", "nicht"},
    "fr": {"le", "la", "les", "et", "de", "des", "est", "pour"},
    "es": {"el", "la", "los", "de", "y", "que", "en", "para"},
    "it": {"il", "la", "di", "e", "che", "per", "non", "con"},
    "pt": {"o", "a", "de", "e", "que", "para", "com", "não"},
    "nl": {"de", "het", "een", "en", "van", "is", "dat", "met"},
}
BOILERPLATE = re.compile(
    r"javascript|cookie|terms of use|privacy policy|all rights reserved|use of cookies|log ?in|sign ?up"
    r"|subscribe|版权所有|隐私政策|使用条款|登录|注册", re.I)
_WORD = re.compile(r"\w+", re.U)
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_SENTENCE_END = re.compile(r"[.!?。！？]+")


def is_cjk(lang: str | None) -> bool:
    return (lang or "") in CJK_LANGS


def _dup_fraction(items: list[str]) -> tuple[float, float]:
    """(fraction of items that repeat an earlier one, fraction of characters in them)."""
    if not items:
        return 0.0, 0.0
    seen, dup_n, dup_chars = set(), 0, 0
    for it in items:
        if it in seen:
            dup_n += 1
            dup_chars += len(it)
        else:
            seen.add(it)
    total = sum(len(i) for i in items) or 1
    return dup_n / len(items), dup_chars / total


def ngram_repetition(tokens: list[str]) -> dict[str, float]:
    """Gopher's n-gram repetition signals, vectorized with numpy.

    top_{2,3,4}gram_frac: characters in the occurrences of the most frequent n-gram / all
    characters; dup_{5..10}gram_frac: characters covered by n-grams occurring more than once /
    all characters. n-grams are identified by a rolling 64-bit hash of token ids (a
    collision only ever merges two distinct n-grams, at odds of ~n^2/2^64).
    """
    out = {f"top_{n}gram_frac": 0.0 for n in (2, 3, 4)} | {f"dup_{n}gram_frac": 0.0 for n in range(5, 11)}
    L = len(tokens)
    if L < 2:
        return out
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.uint64, count=L)
    lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=L)
    total = float(lens.sum()) or 1.0
    csum = np.concatenate(([0], np.cumsum(lens)))
    h = ids + np.uint64(1)
    with np.errstate(over="ignore"):
        for n in range(2, 11):
            if n > L:
                break
            h = h[:-1] * np.uint64(1_000_003) + ids[n - 1:] + np.uint64(1)   # hashes of n-grams
            _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
            if n <= 4:
                best = int(np.argmax(counts))
                if counts[best] > 1:
                    i = int(np.flatnonzero(inverse == best)[0])
                    out[f"top_{n}gram_frac"] = counts[best] * float(csum[i + n] - csum[i]) / total
            else:
                starts = np.flatnonzero(counts[inverse] > 1)
                if starts.size:
                    diff = np.zeros(L + 1, dtype=np.int64)
                    np.add.at(diff, starts, 1)
                    np.add.at(diff, starts + n, -1)
                    covered = np.cumsum(diff[:-1]) > 0
                    out[f"dup_{n}gram_frac"] = float(lens[covered].sum()) / total
    return out


def char_runs(chars: str) -> float:
    """Length of the longest run of one repeated character."""
    if not chars:
        return 0.0
    a = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)
    edges = np.flatnonzero(a[1:] != a[:-1])
    bounds = np.concatenate(([-1], edges, [a.size - 1]))
    return float(np.diff(bounds).max())


def measure(text: str, lang: str | None) -> dict[str, float]:
    """All heuristic signals of one normalized document."""
    lines = [ln.strip() for ln in text.split("\n")]
    lines = [ln for ln in lines if ln]
    paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
    cjk = is_cjk(lang)
    chars = re.sub(r"\s", "", text)
    n_chars = len(chars)
    words = _WORD.findall(text)
    tokens = list(chars) if cjk else words  # what n-gram repetition is measured on
    n_words = len(words)
    s: dict[str, float] = {"n_chars": float(n_chars), "n_words": float(n_words), "n_lines": float(len(lines))}
    s["mean_word_length"] = sum(len(w) for w in words) / n_words if n_words else 0.0
    s["symbol_word_ratio"] = (text.count("#") + text.count("...") + text.count("…")) / max(n_words, 1)
    s["alpha_word_frac"] = sum(1 for w in text.split() if any(c.isalpha() for c in w)) / max(len(text.split()), 1)
    stops = STOP_WORDS.get(lang or "")
    s["stop_word_count"] = float(sum(1 for w in words if w.lower() in stops)) if stops else -1.0
    n_lines = max(len(lines), 1)
    s["bullet_line_frac"] = sum(1 for ln in lines if ln.startswith(BULLETS)) / n_lines
    s["ellipsis_line_frac"] = sum(1 for ln in lines if ln.endswith(ELLIPSIS)) / n_lines
    s["line_punct_frac"] = sum(1 for ln in lines if ln.endswith(TERMINAL_PUNCT)) / n_lines
    s["short_line_frac"] = sum(1 for ln in lines if len(ln) <= 30) / n_lines
    s["boilerplate_line_frac"] = sum(1 for ln in lines if BOILERPLATE.search(ln)) / n_lines
    s["newline_word_ratio"] = text.count("\n") / max(n_words if not cjk else n_chars / 2, 1)
    s["dup_line_frac"], s["dup_line_char_frac"] = _dup_fraction(lines)
    s["dup_para_frac"], s["dup_para_char_frac"] = _dup_fraction(paras)
    s.update(ngram_repetition(tokens))
    low = text.lower()
    s["has_lorem_ipsum"] = 1.0 if "lorem ipsum" in low else 0.0
    s["has_curly_bracket"] = 1.0 if "{" in text else 0.0
    s["n_sentences"] = float(len(_SENTENCE_END.findall(text)))
    s["cjk_char_frac"] = len(_CJK_CHAR.findall(chars)) / max(n_chars, 1)
    s["cjk_punct_frac"] = len(CJK_PUNCT.findall(chars)) / max(n_chars, 1)
    s["max_char_run"] = char_runs(chars)
    top = Counter(chars).most_common(1)
    s["top_char_frac"] = top[0][1] / n_chars if top else 0.0
    return s
