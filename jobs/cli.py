"""`lakehouse <command>`: one subcommand per stage of jobs/stages.py, plus the tools.

Each stage's subcommand is the `main()` of its module in jobs/, the same one spark-submit
runs through infra/spark_job.py.
"""
from __future__ import annotations

import sys

from jobs import stages


def usage() -> str:
    lines = ["usage: lakehouse <command> [options]", "", "stages (in pipeline order):"]
    lines += [f"  {s.name:<9} {s.help}" for s in stages.PIPELINE]
    lines += ["", "tools:"]
    lines += [f"  {t.name:<9} {t.help}" for t in stages.TOOLS]
    lines += ["", "`lakehouse <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    try:
        cmd = stages.command(name)
    except stages.StageError:
        print(f"lakehouse: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    if getattr(cmd, "plain", False):
        return cmd.main(rest)
    from jobs.common.entry import run_main

    return run_main(cmd.main, rest)


if __name__ == "__main__":
    sys.exit(main())
