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

from pipelines.clean.extract import extract, normalize
from pipelines.clean.refine import LINEAGE_PASS, OUTCOME, CleanContext, decide, decide_signals
from pipelines.clean.signals import measure
from pipelines.errors import reraise_environment

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
        try:
            title, body = extract(r["text"] or "", r["content_format"], ctx.extractor, ctx.skip_selectors)
            text, error = normalize(body or ""), None
        except Exception as e:
            reraise_environment(e)
            title, text, error = None, "", f"{type(e).__name__}: {e}"[:500]
        sig = dict(r["signals"] or {})
        if not required <= sig.keys():
            sig = measure(text, r["lang"])
        reason, detail = ("extractor_error", error) if error else decide(text, r["lang"], r["lang_score"], sig, ctx)
        row = {k: r[k] for k in LINEAGE_PASS}
        row.update(run_id=ctx.run_id, stage=ctx.stage, processed_at=ctx.processed_at,
                   pipeline_version=ctx.pipeline_version, url=r["url"], host=r["host"], fetch_time=r["fetch_time"],
                   title=title, text=text, lang=r["lang"], lang_score=r["lang_score"],
                   quality_score=r["quality_score"], quality_tier=r["quality_tier"], n_chars=int(sig["n_chars"]),
                   n_words=int(sig["n_words"]), extractor=ctx.extractor if r["content_format"] == "html" else "none",
                   signals=sig, reason=reason, detail=detail)
        out.append(row)
    return out


def rebuild_fn(ctx: CleanContext, required: frozenset[str]):
    names = OUTCOME.names

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            rows = rebuild_rows(b.to_pylist(), ctx, required)
            yield pa.RecordBatch.from_pydict({k: [r[k] for r in rows] for k in names}, schema=OUTCOME)
    return run
