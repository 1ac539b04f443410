"""PII detection and redaction (presidio-analyzer, offline, with Chinese recognizers)."""
