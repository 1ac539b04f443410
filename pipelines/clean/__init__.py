"""Text refinement: HTML extraction, normalization, language ID, heuristic signals and rules,
quality scores. Signals are measured once per document; decisions come from config rules."""
