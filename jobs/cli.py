"""`lakehouse <command>`: one subcommand per stage, plus sql, sample and jars.

Each subcommand is the `main()` of a module in jobs/, the same module spark-submit runs.
"""
from __future__ import annotations

import importlib
import sys

COMMANDS = {
    "ingest": ("jobs.ingest", "ingest WARC/WET, JSONL, Parquet and media into bronze.*"),
    "clean": ("jobs.clean", "extract, normalize, language-ID, filter and quality-score text into silver.*"),
    "dedup": ("jobs.dedup", "exact + MinHash LSH near-duplicate clusters over silver.documents"),
    "pii": ("jobs.pii", "license gate, PII detection and redaction into silver.redacted_documents"),
    "tokenize": ("jobs.tokenize", "Qwen BPE tokens of the kept documents into gold.tokens (unified vocabulary)"),
    "export": ("jobs.export", "mix, pack and write Megatron .bin/.idx shards into gold.exports"),
    "train": ("jobs.train", "train the Megatron-core model on an export (torchrun)"),
    "nightly": ("jobs.nightly", "every stage in order over what arrived since the last successful run"),
    "report": ("jobs.report", "a static HTML data dashboard of the lake (plots of runs, drops, tokens, PII)"),
    "lineage": ("jobs.lineage", "the story of a document or an export shard, from the Delta tables"),
    "sql": ("jobs.sql", "run Delta SQL against the lake"),
    "sample": ("jobs.sample", "generate the sample corpus and run the pipeline on it"),
    "jars": ("infra.jars", "fetch or list the pinned JVM jars (for spark-submit --jars)"),
}


def usage() -> str:
    lines = ["usage: lakehouse <command> [options]", "", "commands:"]
    lines += [f"  {name:<8} {desc}" for name, (_, desc) in COMMANDS.items()]
    lines += ["", "`lakehouse <command> --help` for a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(usage())
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"lakehouse: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    if name in ("jars", "train"):
        return module.main(rest)
    from jobs.common.entry import run_main
    return run_main(module.main, rest)


if __name__ == "__main__":
    sys.exit(main())
