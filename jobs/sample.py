"""Run the whole pipeline on the shipped sample corpus (embedded default: local Spark, ./lake).

    lakehouse sample [--lake ./lake] [--out ./build/sample]

Generates the sample corpus (deterministic, from data/sample/texts), then runs every stage
in order (ingest, clean, dedup, pii, tokenize, export), and prints where the lake is and how to query it.
"""
from __future__ import annotations

import sys

from jobs.common.entry import common_parser, open_lake, run_main
from jobs.clean import run_clean
from jobs.dedup import run_dedup
from jobs.export import run_export
from jobs.ingest import run_ingest
from jobs.pii import run_pii
from jobs.tokenize import run_tokenize
from pipelines.sample_corpus import generate

QUERIES = [
    "SELECT dataset, license, count(*) AS docs FROM bronze.documents GROUP BY dataset, license ORDER BY dataset, docs DESC",
    "SELECT stage, reason, count(*) AS n FROM ops.rejects GROUP BY stage, reason ORDER BY n DESC",
    "SELECT lang, quality_tier, count(*) AS docs FROM silver.documents WHERE dup_keep GROUP BY lang, quality_tier "
    "ORDER BY docs DESC",
    "SELECT dup_cluster_size, count(*) AS docs FROM silver.documents GROUP BY dup_cluster_size ORDER BY dup_cluster_size",
    "SELECT entity_type, sum(count) AS found, count(DISTINCT doc_id) AS docs FROM silver.pii_audit "
    "GROUP BY entity_type ORDER BY found DESC",
    "SELECT license, license_status, count(*) AS docs FROM silver.redacted_documents GROUP BY license, license_status "
    "ORDER BY docs DESC",
    "SELECT modality, lang, sum(docs) AS docs, sum(tokens) AS tokens FROM gold.token_counts WHERE run_id = "
    "(SELECT max(run_id) FROM gold.token_counts) GROUP BY modality, lang ORDER BY tokens DESC",
    "SELECT export_id, shard, modality, n_sequences, n_tokens, n_docs, input_versions FROM gold.exports "
    "ORDER BY export_id, shard",
    "SELECT run_id, stage, status, rows_in, rows_kept, rows_rejected, rows_written FROM ops.runs ORDER BY started_at",
]


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse sample", __doc__.split("\n\n")[0])
    ap.add_argument("--out", help="where to write the sample corpus (default: sample.out_dir of the profile)")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-sample")
    out = args.out or cfg.get("sample", {}).get("out_dir", "./build/sample")
    folders = generate(out)
    for dataset, folder in folders.items():
        if dataset == "sample-media":
            run_ingest(spark, lake, cfg, [], dataset, manifest=str(folder / "manifest.jsonl"))
        else:
            run_ingest(spark, lake, cfg, [str(folder)], dataset)
    run_clean(spark, lake, cfg)
    run_dedup(spark, lake, cfg)
    run_pii(spark, lake, cfg)
    run_tokenize(spark, lake, cfg)
    exp = run_export(spark, lake, cfg)
    print(f"\nSample corpus in {out}; lake at {lake.root}\n")
    for q in QUERIES:
        print(f"lakehouse sql \"{q}\"")
        spark.sql(q).show(40, truncate=60)
    print("More: lakehouse sql \"DESCRIBE HISTORY bronze.documents\"; README.md has lineage queries.")
    seq = cfg.get("export", {}).get("seq_length", 4096)
    print(f"\nTraining shards ({seq}-token sequences): {exp['manifest']}\n"
          f"  lakehouse train --export {exp['manifest']} --preset tiny --out build/runs/tiny --steps 40")
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
