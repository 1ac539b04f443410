"""Run-profile configuration: infra/conf/base.yaml, a profile on top, then CLI overrides."""
from __future__ import annotations

import copy
import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

CONF = resources.files("infra") / "conf"   # a folder, or a folder inside --py-files zip


class ConfigError(ValueError):
    """A profile or an override that cannot be used; the message says which and why."""


def deep_merge(base: dict, top: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in (top or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _read_yaml(path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"config file {path} is not valid YAML: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a mapping at the top level")
    return data


# mappings whose keys themselves contain dots: the rest of an override path is one key there
FLAT_KEYS = {("spark", "conf")}


def parse_override(item: str) -> dict:
    """`a.b.c=value` -> {"a": {"b": {"c": value}}}; the value is read as YAML (numbers, lists, ...).

    Under spark.conf the rest of the path is one Spark key:
    `spark.conf.spark.sql.shuffle.partitions=16` sets "spark.sql.shuffle.partitions".
    """
    if "=" not in item:
        raise ConfigError(f"override {item!r} must look like key.path=value")
    key, raw = item.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ConfigError(f"override {item!r} has an empty key")
    for i in range(1, len(parts)):
        if tuple(parts[:i]) in FLAT_KEYS:
            parts = parts[:i] + [".".join(parts[i:])]
            break
    try:
        value: Any = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    for p in reversed(parts):
        value = {p: value}
    return value


def load_config(profile: str = "sample", overrides: list[str] | None = None) -> dict:
    """Merge base.yaml, the profile (a name under infra/conf or a path) and the overrides.

    LAKEHOUSE_ROOT, when set, replaces lake.root (before CLI overrides).
    """
    cfg = _read_yaml(CONF / "base.yaml")
    if profile.endswith((".yaml", ".yml")):
        prof_path, name = Path(profile), Path(profile).stem
    else:
        prof_path, name = CONF / f"{profile}.yaml", profile
    if not prof_path.is_file():
        known = sorted(p.name[:-5] for p in CONF.iterdir() if p.name.endswith(".yaml") and p.name != "base.yaml")
        raise ConfigError(f"unknown profile {profile!r}: use one of {known} or a path to a YAML file")
    cfg = deep_merge(cfg, _read_yaml(prof_path))
    cfg["profile"] = name
    if os.environ.get("LAKEHOUSE_ROOT"):
        cfg = deep_merge(cfg, {"lake": {"root": os.environ["LAKEHOUSE_ROOT"]}})
    for item in overrides or []:
        cfg = deep_merge(cfg, parse_override(item))
    return cfg


def config_hash(cfg: dict) -> str:
    """Stable short hash of a config (key order does not matter)."""
    blob = json.dumps(cfg, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]
