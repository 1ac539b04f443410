"""Export stage: mix gold.tokens, pack into sequences, write Megatron shards + manifest.

    lakehouse export [--phase A|B|C] [--budget-tokens N] [--out DIR]

Pins the current gold.tokens version, plans the mixture (tokenize_jobs/mixing.py), selects
documents deterministically, spreads them over shards per modality, packs and writes each
shard as a Megatron indexed dataset (tokenize_jobs/export.py), records each shard in
gold.exports (checksums, doc ids, input versions) and writes `manifest.json` last: what
the trainer reads. The export id hashes every input (gold.tokens version, vocabulary,
mixture, packing): a rerun of the same export writes the same bytes and adds no rows.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version
from jobs.tokenize import vocab_rel
from quality_models.models import sha256_file
from tokenize_jobs import mixing
from tokenize_jobs.export import SHARD_FIELDS, WRITER_OUT, shard_writer_fn
from tokenize_jobs.vocab import Vocab, VocabError, check

log = logging.getLogger("lakehouse")
STAGE = "export"


class ExportError(ValueError):
    """An export that cannot run as configured."""


def check_config(cfg: dict) -> None:
    """The mixture's shares are usable (before Spark starts)."""
    mixing.target_shares(cfg["mixing"])


def out_root(lake: Lake, p: dict) -> str:
    """The export folder. Executors write the shards and the driver the manifest, so on a
    cluster it must be a file system every node mounts: there it has to be set explicitly."""
    if not p["out_dir"] and not lake.spark.sparkContext.master.startswith("local"):
        raise ExportError("on a cluster, set export.out_dir to a path every node mounts (shards are written "
                          "by the executors, the manifest by the driver)")
    out = p["out_dir"] or f"{lake.root}/exports"
    if out.startswith("file:"):
        out = out[len("file:"):]
    if "://" in out:
        raise ExportError(f"export.out_dir {out!r}: shards are written to a local or mounted file system "
                          "(the one the trainer reads); set export.out_dir to a path")
    return os.path.abspath(out)


def load_vocab(lake: Lake, version: str) -> Vocab:
    text = lake.read_text(vocab_rel(version))
    if text is None:
        raise VocabError(f"vocabulary manifest {vocab_rel(version)} missing from the lake: rerun lakehouse tokenize")
    manifest = json.loads(text)
    check(manifest)
    return Vocab(manifest)


def run_export(spark: SparkSession, lake: Lake, cfg: dict) -> dict:
    p, mp = cfg["export"], cfg["mixing"]
    seq_length = int(p["seq_length"])
    with StageRun(lake, STAGE, cfg) as run:
        if not lake.exists("gold.tokens"):
            raise ExportError("gold.tokens does not exist yet: run lakehouse tokenize first")
        version = run.input_versions["gold.tokens"]
        tokens = lake.read("gold.tokens", version)
        versions = [r[0] for r in tokens.select("vocab_version").distinct().collect()]
        if len(versions) != 1:
            raise VocabError(f"gold.tokens version {version} holds vocabularies {versions}: one export, one vocabulary")
        vocab = load_vocab(lake, versions[0])
        timer = Timer(run)
        with timer("plan_seconds"):
            pool = [r.asDict() for r in tokens.groupBy(
                "modality", "dataset", F.coalesce("quality_tier", F.lit("none")).alias("quality_tier"))
                .agg(F.sum("n_tokens").alias("tokens"), F.count("*").alias("docs")).collect()]
            plan = mixing.plan(pool, mp)
        identity = {"gold.tokens": version, "vocab": vocab.version, "mixing": mp, "seq_length": seq_length,
                    "shard_tokens": int(p["shard_tokens"]), "min_shards": int(p["min_shards"]),
                    "open_bins": int(p["open_bins"])}
        export_id = "export-" + hashlib.sha256(json.dumps(identity, sort_keys=True, default=str)
                                               .encode()).hexdigest()[:12]
        out_dir = os.path.join(out_root(lake, p), export_id)
        manifest_path = os.path.join(out_dir, "manifest.json")
        done = (lake.read("gold.exports").where(F.col("export_id") == export_id).count()
                if lake.exists("gold.exports") else 0)
        if done and os.path.exists(manifest_path):
            log.info("export %s already complete at %s", export_id, out_dir)
            with open(manifest_path) as f:
                manifest = json.load(f)
            run.count(rows_in=0, kept=0, rejected=0, written=0)
            run.metric("already_exported", 1)
            return {"run_id": run.run_id, "export_id": export_id, "manifest": manifest_path,
                    "shards": len(manifest["shards"]), "already_exported": True}
        t0 = time.monotonic()
        seed = int(mp["seed"])
        chosen = mixing.select(tokens.select("doc_id", "segment", "modality", "dataset", "quality_tier", "tokens",
                                             "n_tokens"), plan)
        targets = {}
        for g in plan.groups:
            targets[g["modality"]] = targets.get(g["modality"], 0.0) + g["target"]
        shards = {m: max(int(p["min_shards"]), mixing.n_shards(t, int(p["shard_tokens"]))) for m, t in targets.items()}
        n_shards = F.lit(1)
        for m, n in shards.items():
            n_shards = F.when(F.col("modality") == m, F.lit(n)).otherwise(n_shards)
        placed = (chosen.withColumn("shard", F.pmod(F.xxhash64(F.lit(seed), "doc_id", "segment", "copy"), n_shards)
                                    .cast("int"))
                  .withColumn("key", F.xxhash64(F.lit(seed + 1), "doc_id", "segment", "copy"))
                  .select("modality", "shard", "key", "doc_id", "segment", "copy", "tokens"))
        total_shards = sum(shards.values())
        with timer("write_seconds"):
            out = (placed.repartition(total_shards, "modality", "shard")
                   .sortWithinPartitions("modality", "shard", "key", "doc_id", "copy")
                   .mapInArrow(shard_writer_fn(out_dir, seq_length, vocab.eod, vocab.pad, int(p["open_bins"])),
                               from_arrow_schema(WRITER_OUT))
                   .localCheckpoint())      # the shards are written once; two reads of what the writers said
            rows = [r.asDict() for r in out.where("kind = 'shard'").select(
                "modality", "shard", *[n for n, _ in SHARD_FIELDS]).orderBy("modality", "shard").collect()]
        seconds = time.monotonic() - t0
        # one pass: realised tokens per (modality, dataset) and the documents selected
        agg = chosen.groupBy("modality", "dataset").agg(
            F.sum("n_tokens").alias("tokens"), F.countDistinct("doc_id", "segment").alias("docs")).collect()
        realised = [{"modality": r["modality"], "dataset": r["dataset"], "tokens": r["tokens"]} for r in agg]
        mix = mixing.report(plan, realised)
        vocab_path = os.path.join(out_dir, "vocab.json")
        vocab.save(vocab_path)
        input_versions = {"gold.tokens": int(version)}
        table_rows = [{**r, "export_id": export_id,
                       "input_versions": input_versions, "vocab_version": vocab.version, "seq_length": seq_length,
                       "manifest_path": manifest_path, "run_id": run.run_id, "pipeline_version": pipeline_version()}
                      for r in rows]
        written = 0
        if table_rows:
            from pyspark.sql.types import StructType

            from schemas.tables import GOLD_EXPORTS
            schema = StructType([f for f in GOLD_EXPORTS.fields if f.name != "exported_at"])
            df = spark.createDataFrame([{f.name: r[f.name] for f in schema.fields} for r in table_rows], schema)
            written = lake.merge_insert("gold.exports", df.withColumn("exported_at", F.current_timestamp()))
        # the export's documents as rows, from what the writer tasks reported: which shards hold each
        doc_rows = (out.where("kind = 'doc'").groupBy("doc_id", "segment", "modality")
                    .agg(F.sort_array(F.collect_list("shard")).alias("shards"), F.sum("copies").alias("copies"))
                    .select(F.lit(export_id).alias("export_id"), "*", F.lit(run.run_id).alias("run_id"),
                            F.current_timestamp().alias("exported_at")))
        docs_out = sum(r["docs"] for r in agg)
        _, docs_written = lake.insert_counted("gold.export_docs", doc_rows, docs_out, check=False)
        groups = {}
        for r in rows:
            g = groups.setdefault(r["modality"], {"weight": plan.shares[r["modality"]], "shards": [], "tokens": 0})
            g["shards"].append({"prefix": os.path.relpath(r["path_prefix"], out_dir), "bin_sha256": r["bin_sha256"],
                                "idx_sha256": r["idx_sha256"], "n_sequences": r["n_sequences"],
                                "n_tokens": r["n_tokens"]})
            g["tokens"] += r["n_tokens"]
        manifest = {"export_id": export_id, "vocab_version": vocab.version, "vocab": "vocab.json",
                    "vocab_sha256": sha256_file(vocab_path), "seq_length": seq_length, "eod": vocab.eod,
                    "pad": vocab.pad, "vocab_size": vocab.size, "groups": groups, "mixture": mix,
                    "input_versions": input_versions, "shards": [os.path.relpath(r["path_prefix"], out_dir)
                                                                 for r in rows],
                    "run_id": run.run_id, "pipeline_version": pipeline_version()}
        tmp = manifest_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(manifest, f, indent=1, sort_keys=True)
        os.replace(tmp, manifest_path)
        n_bytes = sum(r["bytes"] for r in rows)
        n_seq = sum(r["n_sequences"] for r in rows)
        n_tok = sum(r["n_tokens"] for r in rows)
        n_pad = sum(r["n_pad"] for r in rows)
        docs_in = sum(r["docs"] for r in pool)
        run.metric("shards", len(rows))
        run.metric("sequences", n_seq)
        run.metric("tokens", n_tok)
        run.metric("pad_fraction", n_pad / (n_tok + n_pad) if n_tok + n_pad else 0.0)
        run.metric("bytes", n_bytes)
        run.metric("mb_per_s", n_bytes / 1e6 / seconds if seconds else 0.0)
        run.metric("mixture_max_abs_error", mix["max_abs_error"])
        for m, v in mix["modality"].items():
            run.metric(f"share.{m}.target", v["target"])
            run.metric(f"share.{m}.realised", v["realised"])
        # documents the mixture left out are skipped, not rejected: they stay in gold.tokens for other exports
        run.count(rows_in=docs_in, kept=docs_written, rejected=0, written=written, skipped=docs_in - docs_out)
        summary = {"run_id": run.run_id, "export_id": export_id, "manifest": manifest_path, "shards": len(rows),
                   "sequences": n_seq, "tokens": n_tok, "docs_in_pool": docs_in, "docs_selected": docs_out,
                   "pad_fraction": round(n_pad / (n_tok + n_pad), 4) if n_tok + n_pad else 0.0,
                   "mb": round(n_bytes / 1e6, 2), "seconds": round(seconds, 2),
                   "mixture_max_abs_error": round(mix["max_abs_error"], 4)}
    log.info("export done: %s", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse export", __doc__.split("\n\n")[0])
    ap.add_argument("--phase", help="mixture phase (A, B, C): modality shares of the user's plan")
    ap.add_argument("--budget-tokens", type=float, help="total tokens to export (default: the pool's size)")
    ap.add_argument("--seq-length", type=int, help="packed sequence length")
    ap.add_argument("--out", help="folder the export is written under (default <lake>/exports)")
    args = ap.parse_args(argv)
    for flag, key in (("phase", "mixing.phase"), ("budget_tokens", "mixing.budget_tokens"),
                      ("seq_length", "export.seq_length"), ("out", "export.out_dir")):
        if getattr(args, flag) is not None:
            args.overrides.append(f"{key}={getattr(args, flag)}")
    cfg, spark, lake = open_lake(args, "lakehouse-export")
    print(run_export(spark, lake, cfg))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
