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
    rules = []
    for name, r in (spec or {}).items():
        if not isinstance(r, dict) or "signal" not in r:
            raise RuleError(f"rule {name!r} needs at least a 'signal' and a 'min' or 'max'")
        if r.get("enabled", True) is False:
            continue
        unknown = set(r) - {"signal", "min", "max", "scripts", "langs", "not_langs", "enabled"}
        if unknown:
            raise RuleError(f"rule {name!r}: unknown keys {sorted(unknown)}")
        if r.get("min") is None and r.get("max") is None:
            raise RuleError(f"rule {name!r} has neither 'min' nor 'max'")
        rules.append(Rule(name, r["signal"], r.get("min"), r.get("max"),
                          tuple(r.get("scripts") or ("space", "cjk")), tuple(r.get("langs") or ()),
                          tuple(r.get("not_langs") or ())))
    return rules


def check_signals(rules: list[Rule], known: set[str]) -> None:
    bad = sorted({r.signal for r in rules} - known)
    if bad:
        raise RuleError(f"rules refer to unknown signals {bad}; known: {sorted(known)}")


def failed(rules: list[Rule], signals: dict[str, float], lang: str | None) -> list[str]:
    return [r.name for r in rules if r.fails(signals, lang)]
