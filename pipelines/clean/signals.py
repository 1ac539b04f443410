r"""Heuristic text measurements (signals), in the definitions of Gopher, C4 and FineWeb.

Measured on normalized text (pipelines/clean/extract.py normalize: lines stripped, a paragraph
break is one blank line, whatever the extractor gave). Line signals count each break once, as
on the one-newline-per-paragraph text (Trafilatura's) that FineWeb tuned its thresholds on.
Words are the tokens of `\w+|[^\w\s]` (a word or one punctuation mark, as NLTK's tokenizer
splits them); "non-symbol" words are those with a character outside DataTrove's punctuation set.
Chinese and Japanese (no spaces) are measured in characters where words would mean nothing.
Every signal is a float, so rules (pipelines/clean/rules.py) compare it with config thresholds
and stored signals can be re-decided later.

Each definition follows DataTrove 0.10.1's GopherRepetitionFilter, GopherQualityFilter,
C4QualityFilter and FineWebQualityFilter (Rae et al. 2021 appendix A; Raffel et al. 2020;
Penedo et al. 2024); tests/test_clean_reference.py checks the values against DataTrove's own
filters on real documents. Intended differences, each for a reason given there:
alpha_word_frac counts whitespace words (Gopher's wording; DataTrove counts punctuation tokens
as words, so ordinary prose loses ~15 points), n_sentences uses a regex sentence splitter (NLTK
punkt needs a data download), dup n-grams keep token boundaries (see ngram_repetition).
"""
from __future__ import annotations

import re
from collections import Counter

import numpy as np

CJK_LANGS = frozenset({"zh", "ja", "yue", "wuu", "gan"})
BULLETS = ("•", "-")                      # Gopher's bullet lines, as DataTrove reads them
ELLIPSIS = ("...", "…")
# DataTrove's PUNCTUATION (non-symbol words are those with a character outside it) ...
_PUNCT = set("!/—”:％１〈&(、━\\【#%「」，】；+^]~“《„';’{|∶´[=-`*．（–？！：$～«〉,><》)?）。…@_.\"}►»")
_PUNCT |= {chr(c) for a, b in ((0, 9), (11, 13), (13, 32), (127, 160)) for c in range(a, b)}


def _sentence_terminals() -> frozenset[str]:
    """Unicode's Sentence_Terminal characters: FineWeb's line-end punctuation (DataTrove lists
    them for an older Unicode; 19 rare code points differ)."""
    import regex
    every = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000)
    return frozenset(regex.findall(r"\p{Sentence_Terminal}", every))


TERMINAL_PUNCT = tuple(sorted(_sentence_terminals()))
_PUNCT |= set(TERMINAL_PUNCT)
_WORD_PUNCT = "".join(c for c in _PUNCT if re.match(r"\w", c))   # "_", "１": a \w+ token of only these is a symbol
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
# C4's line filter (DataTrove's C4QualityFilter, filter_no_terminal_punct=False)
C4_POLICY = ("terms of use", "privacy policy", "cookie policy", "uses cookies", "use of cookies", "use cookies")
_C4_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_SENTENCE = re.compile(r"[^.!?。！？]+[.!?。！？]*")
_TOKEN = re.compile(r"\w+|[^\w\s]", re.U)
_CJK_CHAR = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


def is_cjk(lang: str | None) -> bool:
    return (lang or "") in CJK_LANGS


def _duplicates(items: list[str]) -> tuple[int, int]:
    """(items repeating an earlier one, characters in them): DataTrove's find_duplicates."""
    seen, dup_n, dup_chars = set(), 0, 0
    for it in items:
        if it in seen:
            dup_n += 1
            dup_chars += len(it)
        else:
            seen.add(it)
    return dup_n, dup_chars


def _ngram_hashes(ids: np.ndarray, n: int, h: np.ndarray) -> np.ndarray:
    """Hashes of the n-grams of token ids, from the (n-1)-gram hashes `h`."""
    with np.errstate(over="ignore"):
        return h[:-1] * np.uint64(1_000_003) + ids[n - 1:] + np.uint64(1)


def _greedy_dup_chars(h: np.ndarray, lens: np.ndarray, n: int) -> int:
    """Characters in repeated n-grams, counted as Gopher/DataTrove's find_all_duplicate does:
    scan left to right; an n-gram seen before adds its characters and the scan jumps past it
    (so overlapping repeats are not counted twice), an unseen one is remembered. Only n-grams
    occurring more than once can ever repeat, so the scan visits just those positions."""
    _, inverse, counts = np.unique(h, return_inverse=True, return_counts=True)
    repeated = np.flatnonzero(counts[inverse] > 1)
    if not repeated.size:                                   # nothing repeats: the common case
        return 0
    csum = np.concatenate(([0], np.cumsum(lens)))
    seen, chars, resume = set(), 0, 0
    for i, x in zip(repeated.tolist(), inverse[repeated].tolist()):
        if i < resume:
            continue
        if x in seen:
            chars += int(csum[i + n] - csum[i])
            resume = i + n
        else:
            seen.add(x)
    return chars


def ngram_repetition(tokens: list[str], text_len: int) -> dict[str, float]:
    """Gopher's n-gram repetition signals over word tokens, as fractions of the text's length.

    top_{2,3,4}gram_frac: characters of the most frequent n-gram (its tokens joined by one
    space; ties go to the one seen first) x its count; dup_{5..10}gram_frac: characters of
    repeated n-grams (tokens' own characters), greedy as in DataTrove. n-grams are identified
    by a rolling 64-bit hash of token ids (a collision only merges two distinct n-grams, at
    odds of ~n^2/2^64); DataTrove joins the tokens of a dup n-gram without a separator, so
    there "ab c" equals "a bc": here it does not.
    """
    out = {f"top_{n}gram_frac": 0.0 for n in (2, 3, 4)} | {f"dup_{n}gram_frac": 0.0 for n in range(5, 11)}
    L = len(tokens)
    if L < 2 or not text_len:
        return out
    vocab: dict[str, int] = {}
    ids = np.fromiter((vocab.setdefault(t, len(vocab)) for t in tokens), dtype=np.uint64, count=L)
    lens = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=L)
    csum = np.concatenate(([0], np.cumsum(lens)))
    h = ids + np.uint64(1)
    for n in range(2, 11):
        if n > L:
            break
        h = _ngram_hashes(ids, n, h)
        if n <= 4:
            _, first, counts = np.unique(h, return_index=True, return_counts=True)
            best = np.flatnonzero(counts == counts.max())
            i = int(first[best].min())                      # the most frequent, first seen
            chars = int(csum[i + n] - csum[i]) + n - 1
            out[f"top_{n}gram_frac"] = int(counts.max()) * chars / text_len
        else:
            out[f"dup_{n}gram_frac"] = _greedy_dup_chars(h, lens, n) / text_len
    return out


def char_runs(chars: str) -> float:
    """Length of the longest run of one repeated character."""
    if not chars:
        return 0.0
    a = np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32)
    edges = np.flatnonzero(a[1:] != a[:-1])
    bounds = np.concatenate(([-1], edges, [a.size - 1]))
    return float(np.diff(bounds).max())


def c4_lines(lines: list[str]) -> dict[str, float]:
    """C4's document rules over the lines C4 keeps: lines of >= 3 words, none over 1,000
    characters (citations removed). lorem ipsum in such a line, a curly bracket in one that
    does not mention javascript, and the sentences of those that are not policy lines."""
    lorem = curly = 0.0
    sentences = 0
    for line in lines:
        words = line.split()
        if len(words) < 3 or any(len(w) > 1000 for w in words):
            continue
        line = _C4_CITATION.sub("", line)
        low = line.lower()
        lorem = lorem or float("lorem ipsum" in low)
        if "javascript" in low:
            continue
        curly = curly or float("{" in line)
        if not any(p in low for p in C4_POLICY):
            sentences += max(1, len(_SENTENCE.findall(line)))
    return {"has_lorem_ipsum": lorem, "has_curly_bracket": curly, "n_sentences": float(sentences)}


def measure(text: str, lang: str | None) -> dict[str, float]:
    """All heuristic signals of one normalized document (see the module docstring)."""
    lines = [ln for ln in text.split("\n") if ln.strip()]
    paras = [p for p in re.split(r"\n{2,}", text.strip())]
    cjk = is_cjk(lang)
    chars = re.sub(r"\s", "", text)
    n_chars, text_len = len(chars), len(text)
    tokens = _TOKEN.findall(text)
    words = [t for t in tokens if (t not in _PUNCT if len(t) == 1 else t.strip(_WORD_PUNCT))]
    n_tokens, n_words, n_lines = len(tokens), len(words), max(len(lines), 1)
    s: dict[str, float] = {"n_chars": float(n_chars), "n_words": float(n_words), "n_lines": float(len(lines))}
    s["mean_word_length"] = sum(len(w) for w in words) / n_words if n_words else 0.0
    s["symbol_word_ratio"] = max(text.count("#"), text.count("...") + text.count("…")) / max(n_tokens, 1)
    spaced = text.split()
    s["alpha_word_frac"] = sum(1 for w in spaced if any(c.isalpha() for c in w)) / max(len(spaced), 1)
    stops = STOP_WORDS.get(lang or "")
    s["stop_word_count"] = float(len(stops.intersection(tokens))) if stops else -1.0
    s["bullet_line_frac"] = sum(1 for ln in lines if ln.lstrip().startswith(BULLETS)) / n_lines
    s["ellipsis_line_frac"] = sum(1 for ln in lines if ln.rstrip().endswith(ELLIPSIS)) / n_lines
    s["line_punct_frac"] = sum(1 for ln in lines if ln.endswith(TERMINAL_PUNCT)) / n_lines
    s["short_line_frac"] = sum(1 for ln in lines if len(ln) <= 30) / n_lines
    s["boilerplate_line_frac"] = sum(1 for ln in lines if BOILERPLATE.search(ln)) / n_lines
    # one newline per line break: blank lines between paragraphs are not counted
    s["newline_word_ratio"] = (len(lines) - 1 if lines else 0) / max(n_tokens if not cjk else n_chars / 2, 1)
    dup_lines, dup_line_chars = _duplicates(lines)
    s["dup_line_frac"] = dup_lines / n_lines
    s["dup_line_char_frac"] = dup_line_chars / max(text_len, 1)
    s["char_dup_ratio"] = dup_line_chars / max(sum(len(ln) for ln in lines), 1)   # FineWeb's, sans newlines
    dup_paras, dup_para_chars = _duplicates(paras)
    s["dup_para_frac"] = dup_paras / max(len(paras), 1)
    s["dup_para_char_frac"] = dup_para_chars / max(text_len, 1)
    s.update(ngram_repetition(list(chars) if cjk else tokens, text_len))
    s.update(c4_lines(lines))
    s["cjk_char_frac"] = len(_CJK_CHAR.findall(chars)) / max(n_chars, 1)
    s["cjk_punct_frac"] = len(CJK_PUNCT.findall(chars)) / max(n_chars, 1)
    s["max_char_run"] = char_runs(chars)
    top = Counter(chars).most_common(1)
    s["top_char_frac"] = top[0][1] / n_chars if top else 0.0
    return s
