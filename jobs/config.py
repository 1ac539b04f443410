"""`lakehouse config show`: the merged config of a run, and where each value came from.

    lakehouse config show [--profile P] [--set key=value ...] [--lake ROOT] [--doc] [--format yaml]
    lakehouse config schema                  # the JSON schema of the whole config

Every key is printed with its value and its source: `default` (schemas/config.py), the
profile file, the LAKEHOUSE_ROOT environment variable, or the `--set` override. A config
that does not validate is refused here exactly as a run would refuse it.
"""
from __future__ import annotations

import json
import sys

import yaml

from jobs.common import config as C
from jobs.common.entry import common_parser, run_main


def leaves(tree: dict, prefix: tuple = ()):
    """(path, value) of every non-mapping value; an empty mapping is a value."""
    for k, v in tree.items():
        if isinstance(v, dict) and v:
            yield from leaves(v, (*prefix, k))
        else:
            yield (*prefix, k), v


def show(profile: str, overrides: list[str], doc: bool = False) -> list[str]:
    ls = C.layers(profile, overrides)
    cfg = C.validate(ls.merged(), ls)
    notes = C.describe() if doc else {}
    lines = []
    for path, value in leaves(cfg):
        key = ".".join(map(str, path))
        note = notes.get(path) or notes.get(path[:-1]) if doc else None
        lines.append(f"{key} = {json.dumps(value, default=str, ensure_ascii=False)}    # {ls.source_of(path)}"
                     + (f"; {note}" if note else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse config", __doc__.split("\n\n")[0])
    ap.add_argument("action", choices=["show", "schema"])
    ap.add_argument("--doc", action="store_true", help="add each key's description")
    ap.add_argument("--format", choices=["lines", "yaml", "json"], default="lines",
                    help="lines: key = value # source; yaml/json: the merged config only")
    args = ap.parse_args(argv)
    if args.action == "schema":
        print(json.dumps(C.model().model_json_schema(), indent=1))
        return 0
    overrides = list(args.overrides) + ([f"lake.root={args.lake}"] if args.lake else [])
    if args.format == "lines":
        print("\n".join(show(args.profile, overrides, args.doc)))
    else:
        cfg = C.load_config(args.profile, overrides)
        print(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True) if args.format == "yaml"
              else json.dumps(cfg, indent=1, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
