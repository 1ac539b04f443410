"""Run configuration: the schema's defaults, a profile, LAKEHOUSE_ROOT, then `--set` overrides.

The merged tree is validated against schemas/config.py (the stage sections come from
jobs/stages.py) before anything starts: an unknown key or a wrong type is a ConfigError
that names the key's full path, the expected type, the nearest valid key and where the
value came from. What a job receives is a plain dict with every key present.
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import types
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

CONF = resources.files("infra") / "conf"   # a folder, or a folder inside --py-files zip
DEFAULT = "default"


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


@lru_cache(maxsize=4)
def _model(sections: tuple) -> type[BaseModel]:
    from schemas.config import root_model

    return root_model(dict(sections))


def model() -> type[BaseModel]:
    """The root config model of the registered stages."""
    from jobs import stages

    return _model(tuple(stages.config_sections().items()))


def defaults() -> dict:
    return model()().model_dump()


@dataclass
class Layers:
    """The config's layers, lowest first: (source, tree)."""
    items: list[tuple[str, dict]] = field(default_factory=list)

    def add(self, source: str, tree: dict) -> None:
        self.items.append((source, tree))

    def merged(self) -> dict:
        out: dict = {}
        for _, tree in self.items:
            out = deep_merge(out, tree)
        return out

    def source_of(self, path: tuple) -> str:
        """The last layer that set this key, or a mapping above it that it replaced whole; for a
        key no layer has, the layer that wrote the deepest mapping above it."""
        for n in range(len(path), 0, -1):
            for source, tree in reversed(self.items):
                node = tree
                for i, part in enumerate(path[:n]):
                    if not isinstance(node, dict) or part not in node:
                        break
                    node = node[part]
                    if i == n - 1 or not isinstance(node, dict):
                        return source
        return DEFAULT


def profile_path(profile: str) -> tuple[Path, str]:
    if profile.endswith((".yaml", ".yml")):
        return Path(profile), Path(profile).stem
    path = CONF / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.name[:-5] for p in CONF.iterdir() if p.name.endswith(".yaml"))
        raise ConfigError(f"unknown profile {profile!r}: use one of {known} or a path to a YAML file")
    return path, profile


def layers(profile: str = "sample", overrides: list[str] | None = None) -> Layers:
    path, name = profile_path(profile)
    out = Layers()
    out.add(DEFAULT, defaults())
    out.add(f"profile {path}", {**_read_yaml(path), "profile": name})
    if os.environ.get("LAKEHOUSE_ROOT"):
        out.add("env LAKEHOUSE_ROOT", {"lake": {"root": os.environ["LAKEHOUSE_ROOT"]}})
    for item in overrides or []:
        out.add(f"--set {item}", parse_override(item))
    return out


def load_config(profile: str = "sample", overrides: list[str] | None = None) -> dict:
    """Merge the defaults, the profile (a name under infra/conf or a path), LAKEHOUSE_ROOT and
    the overrides; validate; run the stages' own config checks. Returns a plain dict."""
    ls = layers(profile, overrides)
    return validate(ls.merged(), ls)


def updated(cfg: dict, changes: dict) -> dict:
    """cfg with `changes` merged in, validated again (tests, benchmarks, the sample)."""
    ls = Layers([("config", cfg), ("changes", changes)])
    return validate(ls.merged(), ls)


def validate(tree: dict, ls: Layers | None = None) -> dict:
    from jobs import stages

    root = model()
    try:
        cfg = root.model_validate(tree).model_dump()
    except ValidationError as e:
        raise ConfigError(explain_errors(e, root, ls)) from None
    for s in stages.PIPELINE:
        try:
            s.check_config(cfg)
        except ValueError as e:
            raise ConfigError(f"config of stage {s.name}: {e}") from None
    return cfg


# -- error messages ----------------------------------------------------------------------------
UNIONS = (typing.Union, types.UnionType)


def _type_name(tp) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in UNIONS:
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in typing.get_args(tp))}]"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "a mapping"
    return "null" if tp is type(None) else getattr(tp, "__name__", str(tp))


def _container(ann):
    """The model, dict or list inside an Optional/union annotation (else the annotation)."""
    if typing.get_origin(ann) in UNIONS:
        for a in typing.get_args(ann):
            if (isinstance(a, type) and issubclass(a, BaseModel)) or typing.get_origin(a) in (dict, list):
                return a
    return ann


def annotation_at(root: type[BaseModel], loc: tuple):
    """The annotation of the key at `loc` (a pydantic error location), None if not in the schema."""
    ann: Any = root
    for part in loc:
        node = _container(ann)
        if isinstance(node, type) and issubclass(node, BaseModel):
            if part not in node.model_fields:
                return None
            ann = node.model_fields[part].annotation
        elif typing.get_origin(node) in (dict, list):
            ann = typing.get_args(node)[-1]
        else:
            return None
    return ann


def _clean_loc(loc: tuple) -> tuple:
    """Drop the union-member tags pydantic puts into locations (e.g. 'str', 'dict[str,str]')."""
    return tuple(p for p in loc if not (isinstance(p, str) and (p in ("str", "int", "float", "bool", "none")
                                                                or "[" in p or p.startswith("function-"))))


def explain_errors(e: ValidationError, root: type[BaseModel], ls: Layers | None) -> str:
    lines: dict[tuple, str] = {}
    for err in e.errors():
        loc = _clean_loc(err["loc"])
        if loc in lines:        # a union reports each member's error: one line per key
            continue
        key = ".".join(str(p) for p in loc)
        where = f" (from {ls.source_of(loc)})" if ls else ""
        if err["type"] == "extra_forbidden":
            holder = _container(annotation_at(root, loc[:-1]))
            valid = sorted(holder.model_fields) if isinstance(holder, type) and issubclass(holder, BaseModel) else []
            parent = ".".join(str(p) for p in loc[:-1])
            near = difflib.get_close_matches(str(loc[-1]), valid, n=1, cutoff=0.5)
            hint = (f"; did you mean {'.'.join(p for p in (parent, near[0]) if p)}?" if near
                    else f"; valid keys under {parent or 'the top level'}: {', '.join(valid)}")
            lines[loc] = f"unknown config key {key}{where}{hint}"
        elif err["type"] == "value_error":
            lines[loc] = f"config key {key or '(top level)'}{where}: {err['msg'].removeprefix('Value error, ')}"
        else:
            ann = annotation_at(root, loc)
            expected = f" (expected {_type_name(ann)})" if ann is not None and loc else ""
            got = f", got {err['input']!r}" if err["type"] != "missing" and not isinstance(err["input"], dict) else ""
            lines[loc] = f"config key {key or '(top level)'}{where}: {err['msg']}{expected}{got}"
    return "; ".join(lines.values())


def config_hash(cfg: dict) -> str:
    """Stable short hash of a config (key order does not matter)."""
    blob = json.dumps(cfg, sort_keys=True, default=str, ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:16]


def describe(root: type[BaseModel] | None = None, prefix: tuple = ()) -> dict[tuple, str]:
    """key path -> description, for every field of the schema."""
    out = {}
    root = root or model()
    for name, f in root.model_fields.items():
        path = (*prefix, name)
        if f.description:
            out[path] = f.description
        sub = _container(f.annotation)
        if isinstance(sub, type) and issubclass(sub, BaseModel):
            out.update(describe(sub, path))
    return out
