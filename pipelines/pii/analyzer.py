"""One offline presidio AnalyzerEngine per process: pattern recognizers only, no downloads.

presidio's NoOpNlpEngine (no spaCy model), our recognizers (pipelines/pii/recognizers.py)
for every language, presidio's own credit card (Luhn) and IBAN (checksum) recognizers, and
its IP address and phone (libphonenumber) recognizers wrapped for raw-text context words
(and, for phones, run on digit windows only). presidio's email and URL recognizers are left out:
they call tldextract, which downloads the public suffix list, and the email pattern
swallows adjacent Chinese characters; ours is ASCII-bounded.

An NER model (PERSON, LOCATION) plugs in by path: `pii.spacy_model: /path/to/model` (or
{en: path, zh: path}) loads spaCy pipelines from disk through presidio's SpacyNlpEngine.
"""
from __future__ import annotations

import functools

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    IbanRecognizer,
)

from pipelines.pii.recognizers import (
    FLAGS,
    PRESIDIO_FLAGS,
    ContextIpRecognizer,
    WindowedPhoneRecognizer,
    custom_recognizers,
)

PHONE_REGIONS = ("US", "GB", "DE", "FR", "IN", "CN", "HK", "TW", "JP", "KR", "SG", "AU", "CA")


def build_analyzer(languages: tuple[str, ...] = ("en", "zh"), spacy_model=None) -> AnalyzerEngine:
    """`spacy_model`: None (patterns only), a path to a saved spaCy pipeline for every
    language, or {language: path} (a tuple of pairs where it must be hashable)."""
    registry = RecognizerRegistry(supported_languages=list(languages))
    for lang in languages:
        for r in custom_recognizers(lang):
            registry.add_recognizer(r)
        registry.add_recognizer(CreditCardRecognizer(supported_language=lang))
        # case-sensitive, as presidio's own
        registry.add_recognizer(IbanRecognizer(supported_language=lang, regex_flags=FLAGS))
        registry.add_recognizer(ContextIpRecognizer(lang))
        registry.add_recognizer(WindowedPhoneRecognizer(lang, PHONE_REGIONS))
    for r in registry.recognizers:
        if isinstance(r, CreditCardRecognizer):
            r.global_regex_flags = PRESIDIO_FLAGS    # \b at Chinese characters (recognizers.FLAGS)
    if spacy_model:
        from presidio_analyzer.nlp_engine import SpacyNlpEngine
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        paths = (dict(spacy_model) if isinstance(spacy_model, (dict, tuple))
                 else dict.fromkeys(languages, spacy_model))
        missing = [lang for lang in languages if not paths.get(lang)]
        if missing:
            raise ValueError(f"pii.spacy_model names no model for {missing}: give one path, or one per language")
        nlp = SpacyNlpEngine(models=[{"lang_code": lang, "model_name": str(paths[lang])} for lang in languages])
        nlp.load()
        for lang in languages:
            registry.add_recognizer(SpacyRecognizer(supported_language=lang))
    else:
        nlp = NoOpNlpEngine(models=[{"lang_code": lang, "model_name": "no_op"} for lang in languages])
        nlp.load()
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=list(languages))


@functools.lru_cache(maxsize=4)
def analyzer(languages: tuple[str, ...] = ("en", "zh"), spacy_model=None) -> AnalyzerEngine:
    """The process's engine (executors build it once, never per row)."""
    return build_analyzer(languages, spacy_model)
