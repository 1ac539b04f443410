"""`lakehouse lineage <doc_id | export_id:shard | shard path>`: the whole story, from the lake.

For a document: source file and record, each stage's run (id, config hash, code version),
whether and why it was dropped, its tokens and the shards that hold it. For a shard: its
files and checksums, input Delta versions, documents and their sources. JSON on stdout;
the SQL behind each part is in pipelines/lineage.py (QUERIES) and the README.
"""
from __future__ import annotations

import json
import sys

from jobs.common.entry import common_parser, open_lake, run_main
from pipelines.lineage import doc_story, shard_story


def is_shard(target: str) -> bool:
    return target.startswith("export-") or "/" in target or target.endswith((".bin", ".idx"))


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse lineage", __doc__.split("\n\n")[0])
    ap.add_argument("target", help="a doc_id, <export_id>:<shard>, or a shard's path prefix")
    ap.add_argument("--max-docs", type=int, default=50, help="doc ids listed for a shard (all are counted)")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-lineage")
    story = (shard_story(lake, args.target, args.max_docs) if is_shard(args.target)
             else doc_story(lake, args.target))
    if story.get("doc_ids") and story["n_docs"] > len(story["doc_ids"]):
        story["doc_ids"].append(f"... {story['n_docs'] - len(story['doc_ids'])} more")
    print(json.dumps(story, indent=1, default=str))
    if not story["found"]:
        print(f"error: {args.target!r} is not in the lake at {lake.root}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
