"""DataTrove's own filters as the reference for this project's clean signals.

Runs inside a venv holding datatrove==0.10.1 (tests/test_clean_reference.py makes it). Reads
JSONL {id, lang, text, signals} (our values) and, for each signal that has a DataTrove
counterpart, runs that DataTrove filter with only that check on, its threshold just above and
just below our value: the filter must pass on one side and fail on the other, which holds
exactly when DataTrove measures the same value. A mismatch is bisected to DataTrove's value.
Prints JSONL {id, signal, ours, datatrove} mismatches, then {"checked": N}.

The filters get the project's word tokenizer (`\\w+|[^\\w\\s]`) and sentence splitter: NLTK
punkt, DataTrove's English default, needs a data download. Gopher repetition sees the text
with its paragraph breaks (blank lines); Gopher quality, C4 and FineWeb see one newline per
break, the form of the Trafilatura text FineWeb tuned them on.

    python bench/datatrove_signals.py < docs.jsonl
"""
from __future__ import annotations

import json
import re
import sys

INF = 1e18


def main() -> int:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )
    from datatrove.utils.word_tokenizers import WordTokenizer

    sentence = re.compile(r"[^.!?。！？]+[.!?。！？]*")

    class Tokenizer(WordTokenizer):
        def word_tokenize(self, text):
            return re.findall(r"\w+|[^\w\s]", text)

        def sent_tokenize(self, text):
            return sentence.findall(text)

        def span_tokenize(self, text):
            return [m.span() for m in sentence.finditer(text)]

    tok = Tokenizer()
    rep_off = dict(dup_line_frac=None, dup_para_frac=None, dup_line_char_frac=None, dup_para_char_frac=None,
                   top_n_grams=(), dup_n_grams=(), language=tok)
    qual_off = dict(min_doc_words=None, max_doc_words=None, min_avg_word_length=None, max_avg_word_length=None,
                    max_symbol_word_ratio=None, max_bullet_lines_ratio=None, max_ellipsis_lines_ratio=None,
                    max_non_alpha_words_ratio=None, min_stop_words=None, language=tok)
    fw_off = dict(line_punct_thr=-1, short_line_thr=INF, char_duplicates_ratio=INF, new_line_ratio=INF, language=tok)
    c4_off = dict(filter_no_terminal_punct=False, min_num_sentences=-1, filter_lorem_ipsum=False,
                  filter_curly_bracket=False, language=tok)

    def rep(**kw):
        return lambda t: GopherRepetitionFilter(**{**rep_off, **{k: (v(t) if callable(v) else t) for k, v in kw.items()}})

    # signal -> (filter at threshold t, "max": fails above t | "min": fails below t, text form)
    checks = {
        "dup_para_frac": (rep(dup_para_frac=None), "max", "para"),
        "dup_para_char_frac": (rep(dup_para_char_frac=None), "max", "para"),
        "dup_line_frac": (rep(dup_line_frac=None), "max", "para"),
        "dup_line_char_frac": (rep(dup_line_char_frac=None), "max", "para"),
        **{f"top_{n}gram_frac": (rep(top_n_grams=lambda t, n=n: ((n, t),)), "max", "para") for n in (2, 3, 4)},
        **{f"dup_{n}gram_frac": (rep(dup_n_grams=lambda t, n=n: ((n, t),)), "max", "para") for n in range(5, 11)},
        "n_words": (lambda t: GopherQualityFilter(**{**qual_off, "min_doc_words": t}), "min", "line"),
        "mean_word_length": (lambda t: GopherQualityFilter(**{**qual_off, "min_avg_word_length": t}), "min", "line"),
        "symbol_word_ratio": (lambda t: GopherQualityFilter(**{**qual_off, "max_symbol_word_ratio": t}), "max", "line"),
        "bullet_line_frac": (lambda t: GopherQualityFilter(**{**qual_off, "max_bullet_lines_ratio": t}), "max", "line"),
        "ellipsis_line_frac": (lambda t: GopherQualityFilter(**{**qual_off, "max_ellipsis_lines_ratio": t}), "max",
                               "line"),
        "line_punct_frac": (lambda t: FineWebQualityFilter(**{**fw_off, "line_punct_thr": t}), "min", "line"),
        "short_line_frac": (lambda t: FineWebQualityFilter(**{**fw_off, "short_line_thr": t}), "max", "line"),
        "char_dup_ratio": (lambda t: FineWebQualityFilter(**{**fw_off, "char_duplicates_ratio": t}), "max", "line"),
        "newline_word_ratio": (lambda t: FineWebQualityFilter(**{**fw_off, "new_line_ratio": t}), "max", "line"),
        "n_sentences": (lambda t: C4QualityFilter(**{**c4_off, "min_num_sentences": t}), "min", "line"),
        "has_lorem_ipsum": (lambda t: C4QualityFilter(**{**c4_off, "filter_lorem_ipsum": t < 1}), "max", "line"),
        "has_curly_bracket": (lambda t: C4QualityFilter(**{**c4_off, "filter_curly_bracket": t < 1}), "max", "line"),
    }

    def passes(filt, text) -> bool:
        out = filt.filter(Document(text=text, id="x"))
        return out is True or (isinstance(out, tuple) and out[0])

    def value(make, kind, text) -> float:
        """DataTrove's value, by bisection on the threshold (max: fails iff value > t)."""
        lo, hi = -1.0, 1e6
        for _ in range(100):
            mid = (lo + hi) / 2
            if (kind == "max") != passes(make(mid), text):
                lo = mid
            else:
                hi = mid
        return (lo + hi) / 2

    def same(make, kind, v, text, eps) -> bool:
        if kind == "max":
            return passes(make(v + eps), text) and not passes(make(v - eps), text)
        return passes(make(v - eps), text) and not passes(make(v + eps), text)

    checked = 0
    for line in sys.stdin:
        doc = json.loads(line)
        sig = doc["signals"]
        forms = {"para": doc["text"], "line": doc["text"].replace("\n\n", "\n")}
        mismatches = []
        for name, (make, kind, form) in checks.items():
            if name not in sig:
                continue
            v, text = sig[name], forms[form]
            checked += 1
            if name.startswith("has_"):            # a C4 document rule: on, it must drop exactly these
                if passes(make(0), text) != (v == 0):
                    mismatches.append((name, v, float(not passes(make(0), text))))
                continue
            eps = 0.5 if name in ("n_words", "n_sentences") else 1e-9 * max(1.0, abs(v))
            if not same(make, kind, v, text, eps):
                mismatches.append((name, v, value(make, kind, text)))
        if doc.get("stop_words") is not None:
            def make(t, stops=doc["stop_words"]):
                return GopherQualityFilter(**{**qual_off, "min_stop_words": t, "stop_words": stops})
            checked += 1
            if not same(make, "min", sig["stop_word_count"], forms["line"], 0.5):
                mismatches.append(("stop_word_count", sig["stop_word_count"], value(make, "min", forms["line"])))
        for name, ours, theirs in mismatches:
            print(json.dumps({"id": doc["id"], "signal": name, "ours": ours, "datatrove": theirs}))
    print(json.dumps({"checked": checked}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
