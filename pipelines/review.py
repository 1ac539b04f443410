"""Human spot-check pages: a seeded random sample of one stage's decisions as static HTML.

Per document: its text, the decision and reason, what the decision rests on (clean: the
signals of every rule it failed, with the threshold; dedup: the kept document it duplicates,
side by side; pii: the spans found, as type, recognizer, score and offsets) and where it came
from (source URI and record, and the `lakehouse lineage` command for its whole story).
No PII value is ever shown: text that has not been through the PII stage is run through the
same detector here and every span found is replaced by its `<|pii_*|>` placeholder, whatever
the policy would keep; the PII stage's own spans are shown by offsets and salted hash only.
"""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

STAGES = ("clean", "dedup", "pii")


@dataclass
class Item:
    doc_id: str
    decision: str                      # kept | rejected
    reason: str | None
    detail: str | None
    text: str                          # PII already masked
    source: str
    facts: dict = field(default_factory=dict)         # shown as a small table
    other: tuple[str, str] | None = None              # (title, masked text) shown beside it
    spans: list[dict] = field(default_factory=list)   # pii audit spans (no values)


def sample(df: DataFrame, n: int, seed: int) -> DataFrame:
    """n rows of df, the same n for the same seed (ordered by a hash of doc_id and seed)."""
    return df.orderBy(F.sha2(F.concat(F.col("doc_id"), F.lit(f":{seed}")), 256)).limit(n)


def masker(cfg: dict):
    """text, lang -> text with every span the PII detector finds replaced by its placeholder."""
    from pipelines.pii.analyzer import analyzer
    from pipelines.pii.redact import ENTITIES, Span, policy_from_config, resolve

    policy = policy_from_config(cfg)
    languages = tuple(cfg["pii"]["languages"])
    ner = cfg["pii"]["spacy_model"]
    ner = tuple(sorted(ner.items())) if isinstance(ner, dict) else ner      # the stage's NER model too
    floor = min(r.min_score for r in policy.rules.values())

    def mask(text: str, lang: str | None) -> str:
        engine = analyzer(languages, ner)
        lang = lang if lang in languages else languages[0]
        found = engine.analyze(text, language=lang, entities=policy.entities, score_threshold=floor)
        spans = resolve([Span(r.entity_type, r.start, r.end, r.score, "") for r in found
                         if r.score >= policy.rules[r.entity_type].min_score], policy)
        for s in sorted(spans, key=lambda s: -s.start):
            text = text[:s.start] + f"<|pii_{ENTITIES.get(s.entity, s.entity.lower())}|>" + text[s.end:]
        return text
    return mask


def _texts_from_bronze(lake, rows, cfg: dict) -> dict[str, str]:
    """Main text of the sampled documents (rows with doc_id, dataset), extracted and normalized
    as clean does; bronze is read in the sample's datasets only (its partitions)."""
    from pipelines.clean.refine import context_from_config, extract_text

    ctx = context_from_config(cfg, "review", "review", None, "", "")
    bronze = (lake.read("bronze.documents").where(F.col("dataset").isin(sorted({r.dataset for r in rows})))
              .where(F.col("doc_id").isin([r.doc_id for r in rows])))
    out = {}
    for r in bronze.select("doc_id", "text", "content_format", "source_uri", "source_record").collect():
        _, text, error = extract_text(r.asDict(), ctx)
        out[r.doc_id] = (text if error is None else f"(extraction failed: {error})",
                         f"{r.source_uri} #{r.source_record}")
    return out


def _rules_detail(rules, signals: dict, lang: str | None) -> dict:
    """The rules a document fails, each with its signal's value and the thresholds."""
    return {r.name: f"{r.signal} = {signals.get(r.signal, float('nan')):.4g} (min {r.min}, max {r.max})"
            for r in rules if r.fails(signals, lang)}


def clean_items(lake, cfg: dict, reason: str | None, n: int, seed: int, mask) -> list[Item]:
    ts = lake.read("silver.text_signals")
    if reason == "kept":
        ts = ts.where("decision = 'kept'")
    elif reason:
        ts = ts.where(F.col("reason") == reason)
    from pipelines.clean.rules import rules_from_config

    rules = rules_from_config(cfg["clean"]["rules"])
    rows = sample(ts, n, seed).collect()
    texts = _texts_from_bronze(lake, rows, cfg)
    items = []
    for r in rows:
        sig = dict(r.signals or {})
        facts = {"language": f"{r.lang} ({r.lang_score:.2f})" if r.lang_score is not None else r.lang,
                 "quality": f"{r.quality_score:.3f} ({r.quality_tier})" if r.quality_score is not None else "-",
                 "words / lines": f"{sig.get('n_words', 0):.0f} / {sig.get('n_lines', 0):.0f}"}
        facts.update(_rules_detail(rules, sig, r.lang))
        text, source = texts.get(r.doc_id, ("", "?"))
        items.append(Item(r.doc_id, r.decision, r.reason, None, mask(text, r.lang), source, facts))
    return items


def dedup_items(lake, cfg: dict, reason: str | None, n: int, seed: int, mask) -> list[Item]:
    rej = lake.read("ops.rejects").where("stage = 'dedup'")
    if reason:
        rej = rej.where(F.col("reason") == reason)
    rows = sample(rej, n, seed).collect()
    ids = [r.doc_id for r in rows] + [r.ref_doc_id for r in rows if r.ref_doc_id]
    docs = {d.doc_id: d for d in lake.read("silver.documents").where(F.col("doc_id").isin(ids))
            .select("doc_id", "text", "lang", "dup_cluster_id", "dup_cluster_size", "url").collect()}
    items = []
    for r in rows:
        d, k = docs.get(r.doc_id), docs.get(r.ref_doc_id)
        facts = {"cluster": f"{d.dup_cluster_id} ({d.dup_cluster_size} documents)" if d else "-",
                 "url": d.url if d else "-", "kept document": r.ref_doc_id or "-", "kept url": k.url if k else "-"}
        items.append(Item(r.doc_id, "rejected", r.reason, r.detail, mask(d.text, d.lang) if d else "",
                          f"{r.source_uri} #{r.source_record}", facts,
                          other=("the kept document", mask(k.text, k.lang) if k else "(not found)")))
    return items


def pii_items(lake, cfg: dict, reason: str | None, n: int, seed: int, mask) -> list[Item]:
    items = []
    if reason in (None, "kept"):
        red = lake.read("silver.redacted_documents").where("pii_count > 0" if reason is None else "true")
        rows = sample(red, n, seed).collect()
        audit = {}
        for a in (lake.read("silver.pii_audit").where(F.col("doc_id").isin([r.doc_id for r in rows])).collect()):
            audit.setdefault(a.doc_id, []).append(a)
        for r in rows:
            spans = [{"type": a.entity_type, "recognizer": a.recognizer, "action": a.action, "count": a["count"],
                      "offsets": list(zip(a.starts or [], a.ends or [])),
                      "scores": [round(s, 2) for s in a.scores or []],
                      "hashes": [h[:12] for h in a.value_hashes or []]} for a in audit.get(r.doc_id, [])]
            items.append(Item(r.doc_id, "kept", None, None, mask(r.text, r.lang), f"{r.source_uri} #{r.source_record}",
                              {"license": f"{r.license} ({r.license_status})", "spans": r.pii_count,
                               "types": ", ".join(r.pii_types or [])}, spans=spans))
        return items
    rej = lake.read("ops.rejects").where("stage = 'pii'")
    if reason != "rejected":
        rej = rej.where(F.col("reason") == reason)
    rows = sample(rej, n, seed).collect()
    docs = {d.doc_id: d for d in lake.read("silver.documents").where(F.col("doc_id").isin([r.doc_id for r in rows]))
            .select("doc_id", "text", "lang", "license").collect()}
    for r in rows:
        d = docs.get(r.doc_id)
        items.append(Item(r.doc_id, "rejected", r.reason, r.detail, mask(d.text, d.lang) if d else "",
                          f"{r.source_uri} #{r.source_record}", {"license": d.license if d else "-"}))
    return items


CSS = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
.item{border:1px solid #ccc;border-radius:6px;margin:1.2em 0;padding:.8em 1em}
.kept{border-left:6px solid #3a3}.rejected{border-left:6px solid #c33}
.head{display:flex;gap:1em;flex-wrap:wrap;align-items:baseline}.id{font-family:monospace;font-size:.9em}
.badge{padding:.1em .5em;border-radius:4px;background:#eee}.rejected .badge{background:#fdd}
.kept .badge{background:#dfd}
pre{white-space:pre-wrap;background:#fafafa;border:1px solid #eee;padding:.6em;max-height:22em;overflow:auto}
.pii{background:#ffe08a;border-radius:3px;padding:0 .2em}table{border-collapse:collapse;font-size:.9em}
td{border-bottom:1px solid #eee;padding:.15em .6em;vertical-align:top}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:1em}
code{background:#f3f3f3;padding:0 .3em}"""


def _text_html(text: str, limit: int = 6000) -> str:
    t = html.escape(text[:limit] + (" [...]" if len(text) > limit else ""))
    return t.replace("&lt;|pii_", '<span class="pii">&lt;|pii_').replace("|&gt;", "|&gt;</span>")


def render(stage: str, items: list[Item], reason: str | None, seed: int, lake_root: str) -> str:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>review: {stage}</title><style>{CSS}</style>"
             f"</head><body><h1>Spot check: {html.escape(stage)}</h1><p>{len(items)} decisions"
             f"{' with reason <b>' + html.escape(reason) + '</b>' if reason else ''}, seed {seed}, lake "
             f"<code>{html.escape(lake_root)}</code>. PII shown only as placeholders.</p>"]
    for it in items:
        facts = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(str(v))}</td></tr>"
                        for k, v in it.facts.items())
        body = f"<pre>{_text_html(it.text)}</pre>"
        if it.other:
            body = (f"<div class='cols'><div><b>this document</b>{body}</div><div><b>{html.escape(it.other[0])}</b>"
                    f"<pre>{_text_html(it.other[1])}</pre></div></div>")
        spans = ""
        if it.spans:
            spans = "<details><summary>spans found (offsets, scores, salted hashes)</summary><pre>" + html.escape(
                json.dumps(it.spans, indent=1)) + "</pre></details>"
        parts.append(
            f"<div class='item {it.decision}'><div class='head'><span class='badge'>{it.decision}"
            f"{': ' + html.escape(it.reason) if it.reason else ''}</span><span class='id'>{it.doc_id}</span>"
            f"<span>{html.escape(it.source)}</span></div>"
            f"{'<p>' + html.escape(it.detail) + '</p>' if it.detail else ''}<table>{facts}</table>{body}{spans}"
            f"<p>lineage: <code>lakehouse lineage {it.doc_id}</code></p></div>")
    parts.append("</body></html>")
    return "".join(parts)


def review(lake, cfg: dict, stage: str, reason: str | None = None, n: int = 50, seed: int = 0) -> str:
    if stage not in STAGES:
        raise ValueError(f"review: stage must be one of {STAGES}, not {stage!r}")
    mask = masker(cfg)
    items = {"clean": clean_items, "dedup": dedup_items, "pii": pii_items}[stage](lake, cfg, reason, n, seed, mask)
    return render(stage, items, reason, seed, lake.root)
