"""PII decisions from detected spans: which spans count, overlap resolution, redaction, density.

Pure functions of (text, presidio results, Policy): the Spark stage (pipelines/pii/stage.py)
calls them per document on the executors, the tests call them directly.

- A span counts when its score reaches its entity's `min_score`.
- Overlapping spans: the longest wins, then the higher score, then the entity listed first
  in ENTITIES (one span per character range; a card number is not both a bank and a credit card).
- Redaction replaces each `redact` span by its placeholder `<|pii_<name>|>` and leaves every
  other character as it was. `keep` spans are audited only; a `drop` span rejects the
  document (reason pii_policy), as does a density over the threshold (reason pii_density).
- The audit never holds a value: HMAC-SHA256 of it under a salt, truncated to 16 hex digits.
"""
from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field

# entity type -> placeholder name (tokenize_jobs/vocab.py PII_TYPES), in priority order
ENTITIES = {
    "URL_CREDENTIALS": "url_credentials", "SECRET": "secret", "CN_RESIDENT_ID": "id_number",
    "HK_ID": "id_number", "TW_ID": "id_number", "CN_PASSPORT": "passport", "BANK_CARD": "bank_card",
    "CREDIT_CARD": "credit_card", "IBAN_CODE": "iban", "EMAIL": "email", "CN_MOBILE": "phone",
    "CN_LANDLINE": "phone", "PHONE_NUMBER": "phone", "IP_ADDRESS": "ip_address", "PERSON": "person",
    "LOCATION": "location",
}


class PolicyError(ValueError):
    """The pii section of the config is not usable."""


@dataclass(frozen=True)
class EntityRule:
    action: str
    placeholder: str
    min_score: float


@dataclass(frozen=True)
class Policy:
    rules: dict = field(default_factory=dict)       # entity -> EntityRule
    density_min_entities: int = 5
    density_max_per_kchar: float = 5.0

    @property
    def entities(self) -> list[str]:
        return list(self.rules)

    def describe(self) -> dict:
        return {"entities": {e: vars(r) for e, r in sorted(self.rules.items())},
                "density": {"min_entities": self.density_min_entities, "max_per_kchar": self.density_max_per_kchar}}


def policy_from_config(cfg: dict) -> Policy:
    """Policy of the config's `pii` section; unknown entities, actions or placeholders are errors."""
    from tokenize_jobs.vocab import PII_TYPES

    p = cfg["pii"]
    given = p["entities"]
    unknown = sorted(set(given) - set(ENTITIES))
    if unknown:
        raise PolicyError(f"pii.entities: unknown entity types {unknown}; known: {sorted(ENTITIES)}")
    rules = {}
    for entity, placeholder in ENTITIES.items():
        e = given.get(entity) or {"action": "redact", "placeholder": None, "min_score": None}
        rule = EntityRule(action=e["action"], placeholder=e["placeholder"] or placeholder,
                          min_score=float(p["min_score"] if e["min_score"] is None else e["min_score"]))
        if rule.placeholder not in PII_TYPES:
            raise PolicyError(f"pii.entities.{entity}.placeholder={rule.placeholder!r}: the vocabulary has "
                              f"<|pii_*|> tokens for {PII_TYPES}")
        rules[entity] = rule
    d = p["density"]
    return Policy(rules, int(d["min_entities"]), float(d["max_per_kchar"]))


@dataclass(frozen=True)
class Span:
    entity: str
    start: int
    end: int
    score: float
    recognizer: str


def resolve(spans: list[Span], policy: Policy) -> list[Span]:
    """Spans that reach their threshold, overlaps removed, in text order."""
    order = {e: i for i, e in enumerate(ENTITIES)}
    ok = [s for s in spans if s.entity in policy.rules and s.score >= policy.rules[s.entity].min_score
          and s.end > s.start]
    ok.sort(key=lambda s: (-(s.end - s.start), -s.score, order[s.entity], s.start))
    chosen: list[Span] = []
    for s in ok:
        if all(s.end <= c.start or s.start >= c.end for c in chosen):
            chosen.append(s)
    return sorted(chosen, key=lambda s: s.start)


def redact(text: str, spans: list[Span], policy: Policy) -> str:
    """Text with every `redact` span replaced by its placeholder; all else byte-identical."""
    out, pos = [], 0
    for s in spans:
        rule = policy.rules[s.entity]
        if rule.action != "redact":
            continue
        out.append(text[pos:s.start])
        out.append(f"<|pii_{rule.placeholder}|>")
        pos = s.end
    out.append(text[pos:])
    return "".join(out)


def value_hash(salt: bytes, value: str) -> str:
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


@dataclass
class Outcome:
    text: str
    spans: list[Span]
    reason: str | None = None        # pii_density | pii_policy when the document is dropped
    detail: str | None = None


def decide(text: str, spans: list[Span], policy: Policy) -> Outcome:
    """Resolve, then drop (policy or density) or redact. Details name types and counts, never values."""
    chosen = resolve(spans, policy)
    dropping = sorted({s.entity for s in chosen if policy.rules[s.entity].action == "drop"})
    if dropping:
        return Outcome(text, chosen, "pii_policy", f"contains {', '.join(dropping)} (pii.entities action drop)")
    n = len(chosen)
    per_kchar = 1000.0 * n / max(len(text), 1)
    if n >= policy.density_min_entities and per_kchar > policy.density_max_per_kchar:
        return Outcome(text, chosen, "pii_density",
                       f"{n} PII entities in {len(text)} chars ({per_kchar:.1f} per 1000 > "
                       f"{policy.density_max_per_kchar:g})")
    return Outcome(redact(text, chosen, policy), chosen)


def audit_groups(text: str, spans: list[Span], policy: Policy, salt: bytes) -> list[dict]:
    """One audit record per (entity, recognizer): count, offsets, scores, salted value hashes."""
    groups: dict[tuple[str, str], dict] = {}
    for s in spans:
        g = groups.setdefault((s.entity, s.recognizer), {
            "entity_type": s.entity, "recognizer": s.recognizer, "action": policy.rules[s.entity].action,
            "placeholder": policy.rules[s.entity].placeholder, "count": 0, "starts": [], "ends": [],
            "scores": [], "value_hashes": []})
        g["count"] += 1
        g["starts"].append(s.start)
        g["ends"].append(s.end)
        g["scores"].append(round(float(s.score), 4))
        g["value_hashes"].append(value_hash(salt, text[s.start:s.end]))
    return list(groups.values())
