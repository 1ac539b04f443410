"""One offline presidio AnalyzerEngine per process: pattern recognizers only, no downloads.

presidio's NoOpNlpEngine (no spaCy model), our recognizers (pipelines/pii/recognizers.py)
for every language, and presidio's own credit card (Luhn), IBAN (checksum), IP address and
phone (libphonenumber) recognizers. presidio's email and URL recognizers are left out:
they call tldextract, which downloads the public suffix list, and the email pattern
swallows adjacent Chinese characters; ours is ASCII-bounded.

An NER model (PERSON, LOCATION) plugs in by path: `pii.spacy_model: /path/to/model`
loads a spaCy pipeline from disk through presidio's SpacyNlpEngine (see README).
"""
from __future__ import annotations

import functools

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer, IbanRecognizer, IpRecognizer, PhoneRecognizer,
)

from pipelines.pii.recognizers import custom_recognizers

PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CN", "HK", "TW", "JP", "KR", "SG", "AU", "CA")


def build_analyzer(languages: tuple[str, ...] = ("en", "zh"), spacy_model: str | None = None) -> AnalyzerEngine:
    registry = RecognizerRegistry(supported_languages=list(languages))
    for lang in languages:
        for r in custom_recognizers(lang):
            registry.add_recognizer(r)
        registry.add_recognizer(CreditCardRecognizer(supported_language=lang))
        registry.add_recognizer(IbanRecognizer(supported_language=lang))
        registry.add_recognizer(IpRecognizer(supported_language=lang))
        registry.add_recognizer(PhoneRecognizer(supported_language=lang, supported_regions=PHONE_REGIONS))
    if spacy_model:
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        nlp = SpacyNlpEngine(models=[{"lang_code": lang, "model_name": spacy_model} for lang in languages])
        for lang in languages:
            registry.add_recognizer(SpacyRecognizer(supported_language=lang))
    else:
        nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "no_op"} for lang in languages])
        nlp.load()
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=list(languages))


@functools.lru_cache(maxsize=4)
def analyzer(languages: tuple[str, ...] = ("en", "zh"), spacy_model: str | None = None) -> AnalyzerEngine:
    """The process's engine (executors build it once, never per row)."""
    return build_analyzer(languages, spacy_model)
