"""Run the whole pipeline on the shipped sample corpus (embedded default: local Spark, ./lake).

    lakehouse sample [--lake ./lake] [--out ./build/sample] [--plan]

Generates the sample corpus (deterministic, from data/sample/texts), then runs the pipeline
of jobs/stages.py on it (a nightly whose inputs are the sample's folders: every stage in
order, each skipped when nothing new arrived), and prints where the lake is and how to
query it. `--plan` prints the stages and inputs it would run, and runs nothing.
"""
from __future__ import annotations

import json
import sys

from jobs import stages
from jobs.common.config import updated
from jobs.common.entry import common_parser, config_from_args, open_lake, run_main

QUERIES = [
    "SELECT dataset, license, count(*) AS docs FROM bronze.documents GROUP BY dataset, license "
    "ORDER BY dataset, docs DESC",
    "SELECT stage, reason, count(*) AS n FROM ops.rejects GROUP BY stage, reason ORDER BY n DESC",
    "SELECT lang, quality_tier, count(*) AS docs FROM silver.documents WHERE dup_keep GROUP BY lang, quality_tier "
    "ORDER BY docs DESC",
    "SELECT dup_cluster_size, count(*) AS docs FROM silver.documents GROUP BY dup_cluster_size "
    "ORDER BY dup_cluster_size",
    "SELECT entity_type, sum(count) AS found, count(DISTINCT doc_id) AS docs FROM silver.pii_audit "
    "GROUP BY entity_type ORDER BY found DESC",
    "SELECT license, license_status, count(*) AS docs FROM silver.redacted_documents GROUP BY license, license_status "
    "ORDER BY docs DESC",
    "SELECT modality, lang, sum(docs) AS docs, sum(tokens) AS tokens, round(sum(seconds), 1) AS seconds "
    "FROM gold.token_counts GROUP BY modality, lang ORDER BY modality, tokens DESC",
    "SELECT modality, count(*) AS rows, sum(n_tokens) AS tokens, round(sum(end_s - start_s) / 3600, 4) AS hours, "
    "count_if(modality = 'image') AS images, count(DISTINCT try_element_at(parent_ids, 1)) AS files FROM gold.tokens "
    "GROUP BY modality ORDER BY tokens DESC",
    "SELECT regexp_extract(source_uri, '[^/]+$', 0) AS file, segment, start_s, end_s, decision, reason, dup_keep, "
    "round(signals['snr_db'], 1) AS snr_db FROM silver.media_segments ORDER BY file, segment",
    "SELECT export_id, shard, modality, n_sequences, n_tokens, n_docs, input_versions FROM gold.exports "
    "ORDER BY export_id, shard",
    "SELECT export_id, phase, seq_length, share_target, share_realised, repeated FROM gold.exports "
    "WHERE shard = 0 ORDER BY exported_at DESC LIMIT 1",
    "SELECT run_id, stage, status, rows_in, rows_kept, rows_rejected, rows_written FROM ops.runs ORDER BY started_at",
]


def sample_inputs(folders: dict) -> list[dict]:
    """nightly.inputs entries for the generated sample's folders (the media by their manifest)."""
    return [{"dataset": ds, "manifest": str(folder / "manifest.jsonl")} if ds == "sample-media"
            else {"dataset": ds, "paths": [str(folder)]} for ds, folder in folders.items()]


def plan(cfg: dict, out: str) -> dict:
    """What `lakehouse sample` runs: the sample folders it ingests and the stages, in order."""
    from corpora.sample import folders_of

    return {"out": out, "inputs": sample_inputs(folders_of(out)), "stages": [s.name for s in stages.order(cfg)]}


def main(argv: list[str] | None = None) -> int:
    from jobs.nightly import run_nightly

    ap = common_parser("lakehouse sample", __doc__.split("\n\n")[0])
    ap.add_argument("--out", help="where to write the sample corpus (default: sample.out_dir of the profile)")
    ap.add_argument("--plan", action="store_true", help="print the stages and inputs, run nothing")
    args = ap.parse_args(argv)
    if args.plan:
        cfg = config_from_args(args)
        print(json.dumps(plan(cfg, args.out or cfg["sample"]["out_dir"]), indent=1))
        return 0
    from corpora.sample import generate

    cfg, spark, lake = open_lake(args, "lakehouse-sample")
    out = args.out or cfg["sample"]["out_dir"]
    cfg = updated(cfg, {"nightly": {"inputs": sample_inputs(generate(out))}})
    report = run_nightly(spark, lake, cfg)
    print(json.dumps(report, indent=1, default=str))
    if report["status"] != "succeeded":
        print(f"error: stage {report['failed_stage']} failed", file=sys.stderr)
        return 1
    print(f"\nSample corpus in {out}; lake at {lake.root}\n")
    for q in QUERIES:
        print(f"lakehouse sql \"{q}\"")
        spark.sql(q).show(40, truncate=60)
    print("More: lakehouse sql \"DESCRIBE HISTORY bronze.documents\"; README.md has lineage queries.")
    if "export" in report["stages"]:
        manifest = (lake.read("gold.exports").orderBy("exported_at", ascending=False).select("manifest_path")
                    .first()[0])
        print(f"\nTraining shards ({cfg['export']['seq_length']}-token sequences): {manifest}\n"
              f"  lakehouse train --export {manifest} --preset tiny --out build/runs/tiny --steps 40")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
