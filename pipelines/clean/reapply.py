"""Re-deciding cleaned documents from their stored measurements (`lakehouse clean --reapply`).

silver.text_signals holds every document's language, scores and signals. After a rule or
threshold change, each document is decided again from those alone (decide_signals); no
language-ID or quality model runs. A document that now passes gets its text back from
bronze (extraction and normalization, which are deterministic); one whose stored signals
lack a signal an enabled rule reads (measured by an older version) is measured again from
its bronze text. Extraction failures and empty extractions are not threshold decisions and
stay as they are.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa

from pipelines.clean.refine import CleanContext, decide, decide_signals, extract_text, outcome_fn, outcome_row
from pipelines.clean.signals import measure

NOT_RULES = ("extraction_empty", "extractor_error")      # decisions no threshold made
STORED = ["lang", "lang_score", "quality_score", "quality_tier", "signals"]
DECISION = pa.schema([("doc_id", pa.string()), ("reason", pa.string()), ("detail", pa.string())])


def redecide_fn(ctx: CleanContext):
    """text_signals rows (doc_id, lang, lang_score, signals) -> (doc_id, new reason, detail)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            out = {"doc_id": [], "reason": [], "detail": []}
            for r in b.to_pylist():
                reason, detail = decide_signals(r["lang"], r["lang_score"], dict(r["signals"]), ctx)
                out["doc_id"].append(r["doc_id"])
                out["reason"].append(reason)
                out["detail"].append(detail)
            yield pa.RecordBatch.from_pydict(out, schema=DECISION)
    return run


def rebuild_rows(rows: list[dict], ctx: CleanContext, required: frozenset[str]) -> list[dict]:
    """Bronze rows with their stored measurements -> OUTCOME rows: the text extracted again, the
    stored signals (measured again where one of `required` is missing), decided again."""
    out = []
    for r in rows:
        title, text, error = extract_text(r, ctx)
        sig = dict(r["signals"] or {})
        if not required <= sig.keys():
            sig = measure(text, r["lang"])
        reason, detail = ("extractor_error", error) if error else decide(text, r["lang"], r["lang_score"], sig, ctx)
        out.append(outcome_row(r, ctx, title, text, r["lang"], r["lang_score"], r["quality_score"],
                               r["quality_tier"], sig, reason, detail))
    return out


def rebuild_fn(ctx: CleanContext, required: frozenset[str]):
    return outcome_fn(lambda rows: rebuild_rows(rows, ctx, required))
