"""The clean stage's per-partition body: bronze rows -> silver rows or rejects, plus signals.

Per document: extract main text, normalize, identify the language (fastText lid.176),
measure heuristic signals, score quality (fastText classifier), then decide from config:
extraction_empty, lang_low_confidence, lang_not_allowed, or the first failing heuristic
rule. Models are loaded once per Python worker (quality_models.models.load_fasttext);
language ID and quality scoring run batched over each Arrow batch.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from pipelines.clean.extract import DEFAULT_SKIP, extract, normalize
from pipelines.clean.rules import Rule, failed
from pipelines.clean.signals import measure
from pipelines.errors import reraise_environment

LINEAGE_PASS = ["doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256", "parent_ids",
                "ingest_run_id"]
INPUT_COLUMNS = LINEAGE_PASS + ["url", "host", "fetch_time", "content_format", "text"]
OUTCOME = pa.schema([
    ("doc_id", pa.string()), ("source_uri", pa.string()), ("source_record", pa.string()), ("dataset", pa.string()),
    ("license", pa.string()), ("content_sha256", pa.string()), ("parent_ids", pa.list_(pa.string())),
    ("ingest_run_id", pa.string()), ("run_id", pa.string()), ("stage", pa.string()),
    ("processed_at", pa.timestamp("us", tz="UTC")), ("pipeline_version", pa.string()),
    ("url", pa.string()), ("host", pa.string()), ("fetch_time", pa.timestamp("us", tz="UTC")),
    ("title", pa.string()), ("text", pa.string()), ("lang", pa.string()), ("lang_score", pa.float64()),
    ("quality_score", pa.float64()), ("quality_tier", pa.string()), ("n_chars", pa.int64()), ("n_words", pa.int64()),
    ("extractor", pa.string()), ("signals", pa.map_(pa.string(), pa.float64())),
    ("reason", pa.string()), ("detail", pa.string()),
])


@dataclass
class CleanContext:
    run_id: str
    pipeline_version: str
    processed_at: datetime
    lid_model: str
    quality_model: str
    rules: list[Rule]
    extractor: str
    skip_selectors: tuple[str, ...]
    lid_min_score: float
    languages: tuple[str, ...]               # empty: every language is kept
    tiers: dict
    lid_chars: int = 3000
    stage: str = "clean"


def _model_file(path: str) -> str:
    """A model shipped with SparkContext.addFile is found by name on executors."""
    import os
    if os.path.exists(path):
        return path
    from pyspark import SparkFiles
    return SparkFiles.get(os.path.basename(path))


def identify_languages(model_file: str, texts: list[str], chars: int) -> list[tuple[str, float]]:
    from quality_models.models import load_fasttext

    model = load_fasttext(model_file)
    labels, probs = model.predict([t[:chars].replace("\n", " ") for t in texts], k=1)
    return [(lab[0].replace("__label__", ""), float(min(1.0, p[0]))) for lab, p in zip(labels, probs)]


def tier_of(score: float, tiers: dict) -> str:
    return "high" if score >= tiers["high"] else "mid" if score >= tiers["mid"] else "low"


def decide_signals(lang: str, lang_score: float, signals: dict, ctx: CleanContext) -> tuple[str | None, str | None]:
    """(reason, detail) from stored measurements alone: language checks, then the rules."""
    if lang_score < ctx.lid_min_score:
        return "lang_low_confidence", f"{lang} at {lang_score:.2f} < {ctx.lid_min_score}"
    if ctx.languages and lang not in ctx.languages:
        return "lang_not_allowed", f"{lang} not in {list(ctx.languages)}"
    fails = failed(ctx.rules, signals, lang)
    if fails:
        by_name = {r.name: r for r in ctx.rules}
        detail = ", ".join(f"{n}: {by_name[n].signal}={signals[by_name[n].signal]:.3g}" for n in fails)
        return fails[0], detail
    return None, None


def decide(text: str, lang: str, lang_score: float, signals: dict, ctx: CleanContext) -> tuple[str | None, str | None]:
    """(reason, detail) for a rejected document, (None, None) for a kept one."""
    if not text.strip():
        return "extraction_empty", "no main text left after extraction and normalization"
    return decide_signals(lang, lang_score, signals, ctx)


def extract_text(r: dict, ctx: CleanContext) -> tuple[str | None, str, str | None]:
    """(title, normalized main text, error) of one bronze row; an extractor failure is the
    row's extractor_error (within the error budget), an environment error is raised."""
    try:
        title, body = extract(r["text"] or "", r["content_format"], ctx.extractor, ctx.skip_selectors)
        return title, normalize(body or ""), None
    except Exception as e:  # the extractor failing on this page
        reraise_environment(e)
        return None, "", f"{type(e).__name__}: {e}"[:500]


def outcome_row(r: dict, ctx: CleanContext, title, text: str, lang: str, lang_score: float, quality: float,
                tier: str, sig: dict, reason, detail) -> dict:
    """One OUTCOME row: the bronze row's lineage, this run's stamp, the text and its decision."""
    row = {k: r[k] for k in LINEAGE_PASS}
    row.update(run_id=ctx.run_id, stage=ctx.stage, processed_at=ctx.processed_at,
               pipeline_version=ctx.pipeline_version, url=r["url"], host=r["host"], fetch_time=r["fetch_time"],
               title=title, text=text, lang=lang, lang_score=lang_score, quality_score=quality, quality_tier=tier,
               n_chars=int(sig["n_chars"]), n_words=int(sig["n_words"]),
               extractor=ctx.extractor if r["content_format"] == "html" else "none", signals=sig,
               reason=reason, detail=detail)
    return row


def refine_rows(rows: list[dict], ctx: CleanContext) -> list[dict]:
    from quality_models.quality import score

    extracted = [extract_text(r, ctx) for r in rows]
    texts = [text for _, text, _ in extracted]
    langs = identify_languages(_model_file(ctx.lid_model), texts, ctx.lid_chars)
    quality = score(_model_file(ctx.quality_model), texts)
    out = []
    for r, (title, text, error), (lang, lscore), q in zip(rows, extracted, langs, quality):
        sig = measure(text, lang)
        reason, detail = ("extractor_error", error) if error else decide(text, lang, lscore, sig, ctx)
        out.append(outcome_row(r, ctx, title, text, lang, lscore, q, tier_of(q, ctx.tiers), sig, reason, detail))
    return out


def outcome_fn(rows_fn):
    """mapInArrow function: batches of bronze rows -> OUTCOME batches, by rows_fn(rows)."""
    names = OUTCOME.names

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            rows = rows_fn(b.to_pylist())
            yield pa.RecordBatch.from_pydict({k: [r[k] for r in rows] for k in names}, schema=OUTCOME)
    return run


def refine_fn(ctx: CleanContext):
    return outcome_fn(lambda rows: refine_rows(rows, ctx))


def context_from_config(cfg: dict, run_id: str, pipeline_version: str, processed_at: datetime,
                        lid_model: str, quality_model: str) -> CleanContext:
    from pipelines.clean.rules import check_signals, rules_from_config
    from pipelines.clean.signals import measure as _measure

    c = cfg["clean"]
    rules = rules_from_config(c["rules"])
    check_signals(rules, set(_measure("probe text.", "en")))
    return CleanContext(
        run_id=run_id, pipeline_version=pipeline_version, processed_at=processed_at, lid_model=lid_model,
        quality_model=quality_model, rules=rules, extractor=c["extractor"],
        skip_selectors=tuple(c["skip_selectors"] or DEFAULT_SKIP), lid_min_score=float(c["lid"]["min_score"]),
        languages=tuple(c["lid"]["languages"]), tiers=dict(c["quality"]["tiers"]),
    )
