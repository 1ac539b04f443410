"""The PII stage as DataFrame functions: license gate, detection + redaction per Arrow batch.

`outcome(docs, ...)` returns every input document once, with its redacted text, its PII
counts and audit records, and a reject reason (license, opt-out, PII policy or density)
or none, from one scan of the input. Detection runs in `mapInArrow` with the process's one
AnalyzerEngine (pipelines/pii/analyzer.py); documents the license gate rejects are not analysed.
"""
from __future__ import annotations

import hashlib
import json

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

from pipelines.pii.license import LicensePolicy, decide_license
from pipelines.pii.redact import Policy, Span, audit_groups, decide

AUDIT = pa.struct([("entity_type", pa.string()), ("recognizer", pa.string()), ("action", pa.string()),
                   ("placeholder", pa.string()), ("count", pa.int64()), ("starts", pa.list_(pa.int32())),
                   ("ends", pa.list_(pa.int32())), ("scores", pa.list_(pa.float64())),
                   ("value_hashes", pa.list_(pa.string()))])
ADDED = [("pii_count", pa.int64()), ("pii_types", pa.list_(pa.string())), ("pii_reason", pa.string()),
         ("pii_detail", pa.string()), ("pii_audit", pa.list_(AUDIT))]


def policy_hash(policy: Policy, lic: LicensePolicy, languages, spacy_model) -> str:
    desc = {"pii": policy.describe(), "license": vars(lic), "languages": list(languages), "ner": spacy_model}
    return hashlib.sha256(json.dumps(desc, sort_keys=True, default=list).encode()).hexdigest()[:16]


def detect_fn(languages: tuple[str, ...], spacy_model: str | None, policy: Policy, salt: bytes):
    """mapInArrow function: text -> redacted text + pii_* columns, other columns passed through."""
    entities = policy.entities
    floor = min(r.min_score for r in policy.rules.values())

    def fn(batches):
        from pipelines.pii.analyzer import analyzer

        model = tuple(sorted(spacy_model.items())) if isinstance(spacy_model, dict) else spacy_model
        engine = analyzer(tuple(languages), model)
        for b in batches:
            texts, langs = b.column("text").to_pylist(), b.column("lang").to_pylist()
            gate = (b.column("license_reason").to_pylist() if "license_reason" in b.schema.names
                    else [None] * b.num_rows)
            out_text, counts, types, reasons, details, audits = [], [], [], [], [], []
            for text, lang, gated in zip(texts, langs, gate):
                if gated is not None:       # rejected by the license gate: not analysed
                    for col, v in ((out_text, text), (counts, None), (types, None), (reasons, None),
                                   (details, None), (audits, [])):
                        col.append(v)
                    continue
                lang = lang if lang in languages else languages[0]
                found = engine.analyze(text, language=lang, entities=entities, score_threshold=floor)
                spans = [Span(r.entity_type, r.start, r.end, r.score,
                              (r.recognition_metadata or {}).get("recognizer_name", "?")) for r in found]
                o = decide(text, spans, policy)
                out_text.append(o.text)
                counts.append(len(o.spans))
                types.append(sorted({s.entity for s in o.spans}))
                reasons.append(o.reason)
                details.append(o.detail)
                audits.append(audit_groups(text, o.spans, policy, salt))
            cols = {n: b.column(n) for n in b.schema.names}
            cols["text"] = pa.array(out_text, pa.string())
            arrays = [cols[n] for n in b.schema.names] + [
                pa.array(counts, pa.int64()), pa.array(types, pa.list_(pa.string())), pa.array(reasons, pa.string()),
                pa.array(details, pa.string()), pa.array(audits, pa.list_(AUDIT))]
            yield pa.RecordBatch.from_arrays(arrays, names=list(b.schema.names) + [n for n, _ in ADDED])
    return fn


def output_schema(schema):
    arrow = to_arrow_schema(schema)
    for name, typ in ADDED:
        arrow = arrow.append(pa.field(name, typ))
    return from_arrow_schema(arrow)


def outcome(docs: DataFrame, robots: DataFrame | None, policy: Policy, lic: LicensePolicy,
            languages: tuple[str, ...], spacy_model: str | None, salt: bytes) -> DataFrame:
    """Every document once, in one pass: the license gate as columns, then detection and
    redaction in the same mapInArrow for the documents the gate let through (the others are
    passed over unanalysed). Columns: the input's, `robots_tag`, `license_status`, `reason`,
    `detail` and the pii_* ones."""
    if robots is not None:
        docs = docs.join(robots, "doc_id", "left")
    else:
        docs = docs.withColumn("robots_tag", F.lit(None).cast("string"))
    status, reason, detail = decide_license(F.col("robots_tag"), lic)
    gated = docs.select("*", status.alias("license_status"), reason.alias("license_reason"),
                        detail.alias("license_detail"))
    analysed = gated.mapInArrow(detect_fn(languages, spacy_model, policy, salt), output_schema(gated.schema))
    keep = [c for c in gated.columns if c not in ("license_reason", "license_detail")]
    return analysed.select(*keep, "pii_count", "pii_types", "pii_audit",
                           F.coalesce("license_reason", "pii_reason").alias("reason"),
                           F.coalesce("license_detail", "pii_detail").alias("detail"))


def audit_rows(out: DataFrame) -> DataFrame:
    """silver.pii_audit rows: one per (document, entity type, recognizer); no values, only hashes."""
    return (out.where(F.size("pii_audit") > 0)
            .select("doc_id", "dataset", F.explode("pii_audit").alias("a"), F.col("reason").alias("doc_reason"))
            .select("doc_id", "dataset", "a.*", F.coalesce("doc_reason", F.lit("kept")).alias("doc_outcome")))
