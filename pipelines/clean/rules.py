"""Named, configurable filter rules over signals. A rule fails a document when its signal is
below `min` or above `max`; `scripts` (space | cjk) and `langs` limit where it applies.
The first failing rule (in config order) is the reject reason; all failures go in the detail.
"""
from __future__ import annotations

from dataclasses import dataclass

from pipelines.clean.signals import is_cjk


class RuleError(ValueError):
    pass


@dataclass(frozen=True)
class Rule:
    name: str
    signal: str
    min: float | None = None
    max: float | None = None
    scripts: tuple[str, ...] = ("space", "cjk")
    langs: tuple[str, ...] = ()
    not_langs: tuple[str, ...] = ()

    def applies(self, lang: str | None) -> bool:
        if (self.langs and (lang or "") not in self.langs) or (lang or "") in self.not_langs:
            return False
        return ("cjk" if is_cjk(lang) else "space") in self.scripts

    def fails(self, signals: dict[str, float], lang: str | None) -> bool:
        if not self.applies(lang):
            return False
        v = signals[self.signal]
        return (self.min is not None and v < self.min) or (self.max is not None and v > self.max)


def rules_from_config(spec: dict) -> list[Rule]:
    """The enabled rules of a validated `clean.rules` mapping (schemas/config.py Rule), in order."""
    return [Rule(name, r["signal"], r["min"], r["max"], tuple(r["scripts"] or ("space", "cjk")),
                 tuple(r["langs"] or ()), tuple(r["not_langs"] or ()))
            for name, r in spec.items() if r["enabled"]]


def check_signals(rules: list[Rule], known: set[str]) -> None:
    bad = sorted({r.signal for r in rules} - known)
    if bad:
        raise RuleError(f"rules refer to unknown signals {bad}; known: {sorted(known)}")


def failed(rules: list[Rule], signals: dict[str, float], lang: str | None) -> list[str]:
    return [r.name for r in rules if r.fails(signals, lang)]
