"""Export stage: gold.tokens -> training documents -> mixture -> packed Megatron shards + manifest.

    lakehouse export [--phase A|B|C] [--budget-tokens N] [--seq-length N] [--out DIR|URI]

Pins the current gold.tokens version and builds the documents the model trains on
(tokenize_jobs/documents.py: text; speech segments; image-text pairs; video shots as
time-slice groups of frames and the shot's audio, one document per shot). One aggregate
over them plans the mixture (tokenize_jobs/mixing.py: phase shares across modalities,
temperature across datasets, quality tiers, budget, repetition) exactly; documents are then
selected deterministically, spread over shards per modality (a video's shots in one shard,
in time order), packed (never splitting an image or a time slice; long media cut at slice
boundaries with <|cont|>) and written as Megatron indexed datasets to a local path or a URI
(tokenize_jobs/export.py). Each shard is recorded in gold.exports (checksums, input
versions, the mixture realised), each document in gold.export_docs; `manifest.json` is
written last: what the trainer reads. The export id hashes every input (gold.tokens
version, vocabulary, mixture, packing): a rerun of the same export writes the same bytes
and adds no rows.
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, pipeline_version
from jobs.tokenize import vocab_rel
from pipelines.uris import exists, filesystem, join, local_path, read_bytes, s3_settings, write_bytes
from tokenize_jobs import mixing
from tokenize_jobs.documents import DOCS, IN_COLUMNS, documents_fn
from tokenize_jobs.export import SHARD_FIELDS, WRITER_OUT, shard_writer_fn
from tokenize_jobs.vocab import MODALITIES, Vocab, VocabError, check

log = logging.getLogger("lakehouse")
STAGE = "export"


class ExportError(ValueError):
    """An export that cannot run as configured."""


def check_config(cfg: dict) -> None:
    """The mixture's shares are usable (before Spark starts)."""
    mixing.target_shares(cfg["mixing"])


def seq_length_of(cfg: dict) -> int:
    p = cfg["export"]
    return int(p["seq_length"] or p["phase_seq_length"][cfg["mixing"]["phase"]])


def out_root(lake: Lake, p: dict) -> str:
    """The export folder: a path or URI. Executors write the shards and the driver the
    manifest, so on a cluster with a local lake it must be set to storage every node reaches."""
    on_cluster = not lake.spark.sparkContext.master.startswith("local")
    if not p["out_dir"] and local_path(lake.root) is not None and on_cluster:
        raise ExportError("on a cluster, set export.out_dir to storage every node reaches (an s3a:// or hdfs:// "
                          "URI, or a mounted path): shards are written by the executors, the manifest by the driver")
    out = p["out_dir"] or f"{lake.root.rstrip('/')}/exports"
    local = local_path(out)
    return filesystem(out)[1] if local is not None else out


def load_vocab(lake: Lake, version: str) -> Vocab:
    text = lake.read_text(vocab_rel(version))
    if text is None:
        raise VocabError(f"vocabulary manifest {vocab_rel(version)} missing from the lake: rerun lakehouse tokenize")
    manifest = json.loads(text)
    check(manifest)
    return Vocab(manifest)


def documents(tokens: DataFrame, vocab: Vocab, cfg: dict) -> DataFrame:
    """One row per training document (DOCS): a video shot's audio row joins its shot."""
    d = cfg["export"]["documents"]
    video = tokens.where("modality = 'video'")
    tracks = (tokens.where("modality = 'audio'")
              .join(video.select(F.col("pair_doc_id").alias("doc_id")), "doc_id", "left_semi"))
    rows = (tokens.join(tracks.select("doc_id", "segment"), ["doc_id", "segment"], "left_anti")
            .join(tracks.select(F.col("doc_id").alias("pair_doc_id"), F.col("tokens").alias("pair_tokens")),
                  "pair_doc_id", "left")
            .withColumn("caption_first", mixing.unit_hash(int(cfg["mixing"]["seed"]) + 2, "doc_id")
                        < float(d["caption_first"]))
            .withColumn("order_key", F.when(F.col("modality") == "video", F.try_element_at("parent_ids", F.lit(1)))
                        .otherwise(F.col("doc_id"))))
    return rows.select(*IN_COLUMNS).mapInArrow(documents_fn(vocab.manifest, int(d["max_caption_tokens"])),
                                               from_arrow_schema(DOCS))


def histogram(docs: DataFrame, seed: int) -> list[dict]:
    """mixing.histogram plus the token positions per modality (what the trainer sees)."""
    return [r.asDict() for r in mixing.with_bucket(docs, seed).groupBy(
        "modality", "dataset", F.col("_tier").alias("quality_tier"), "bucket")
        .agg(F.sum("n_tokens").alias("tokens"), F.count("*").alias("docs"), F.max("n_tokens").alias("longest"),
             *[F.sum(f"n_{m}").alias(f"n_{m}") for m in MODALITIES]).collect()]


def realised(plan: mixing.Plan, hist: list[dict]) -> tuple[list[dict], dict[str, int], int]:
    """What select() takes, from the histogram and the plan's thresholds: tokens per
    (modality, dataset), token positions per modality, documents (distinct)."""
    by = {tuple(g[c] for c in mixing.GROUP): g for g in plan.groups}
    tokens: dict[tuple, int] = {}
    positions = {m: 0 for m in MODALITIES}
    docs = 0
    for r in hist:
        g = by.get((r["modality"], r["dataset"], r["quality_tier"]))
        if g is None:
            continue
        copies = g["whole"] + (1 if r["bucket"] < g["threshold"] else 0)
        if copies:
            k = (r["modality"], r["dataset"])
            tokens[k] = tokens.get(k, 0) + copies * r["tokens"]
            docs += r["docs"]
            for m in MODALITIES:
                positions[m] += copies * r[f"n_{m}"]
    return [{"modality": m, "dataset": ds, "tokens": t} for (m, ds), t in tokens.items()], positions, docs


def run_export(spark: SparkSession, lake: Lake, cfg: dict) -> dict:
    p, mp = cfg["export"], cfg["mixing"]
    seq_length = seq_length_of(cfg)
    seed = int(mp["seed"])
    with StageRun(lake, STAGE, cfg) as run:
        if not lake.exists("gold.tokens"):
            raise ExportError("gold.tokens does not exist yet: run lakehouse tokenize first")
        version = run.input_versions["gold.tokens"]
        tokens = lake.read("gold.tokens", version)
        versions = [r[0] for r in tokens.select("vocab_version").distinct().collect()]
        if len(versions) != 1:
            raise VocabError(f"gold.tokens version {version} holds vocabularies {versions}: one export, one vocabulary")
        vocab = load_vocab(lake, versions[0])
        identity = {"gold.tokens": version, "vocab": vocab.version, "mixing": mp, "seq_length": seq_length,
                    "documents": p["documents"], "shard_tokens": int(p["shard_tokens"]),
                    "min_shards": int(p["min_shards"]), "open_bins": int(p["open_bins"])}
        export_id = "export-" + hashlib.sha256(json.dumps(identity, sort_keys=True, default=str)
                                               .encode()).hexdigest()[:12]
        s3 = s3_settings(spark.sparkContext.getConf())     # the driver's s3a settings, for the executors too
        out_dir = join(out_root(lake, p), export_id)
        manifest_uri = join(out_dir, "manifest.json")
        done = (lake.read("gold.exports").where(F.col("export_id") == export_id).count()
                if lake.exists("gold.exports") else 0)
        if done and exists(manifest_uri, s3):
            log.info("export %s already complete at %s", export_id, out_dir)
            manifest = json.loads(read_bytes(manifest_uri, s3))
            run.count(rows_in=0, kept=0, rejected=0, written=0)
            run.metric("already_exported", 1)
            return {"run_id": run.run_id, "export_id": export_id, "manifest": manifest_uri,
                    "shards": len(manifest["shards"]), "already_exported": True}
        docs = documents(tokens, vocab, cfg)
        timer = Timer(run)
        with timer("plan_seconds"):
            hist = histogram(docs, seed)
            images = max((r["longest"] for r in hist if r["modality"] == "image"), default=0)
            if images + 1 > seq_length:
                raise ExportError(f"an image-text pair of {images} tokens (+ <|eod|>) does not fit export.seq_length "
                                  f"{seq_length}, and images are never cut: raise it, or lower "
                                  "export.documents.max_caption_tokens")
            plan = mixing.plan(mixing.pool_of(hist), mp, hist)
            real, positions, docs_out = realised(plan, hist)
            mix = mixing.report(plan, real, positions)
        if not mix["within_tolerance"]:
            raise mixing.MixingError(
                f"realised modality shares miss the targets by {mix['modality_max_abs_error']:.4f} > mixing.tolerance "
                f"{mix['tolerance']}: " + ", ".join(f"{m} {v['realised']:.4f} for {v['target']:.4f}"
                                                     for m, v in mix["modality"].items())
                + " (the pool's documents are too few or too long for these shares at this budget)")
        t0 = time.monotonic()
        chosen = mixing.select(docs, plan)
        shards = {}
        for g in plan.groups:
            shards[g["modality"]] = shards.get(g["modality"], 0.0) + g["target"]
        shards = {m: max(int(p["min_shards"]), mixing.n_shards(t, int(p["shard_tokens"]))) for m, t in shards.items()}
        n_shards = F.lit(1)
        for m, n in shards.items():
            n_shards = F.when(F.col("modality") == m, F.lit(n)).otherwise(n_shards)
        shard = F.pmod(F.xxhash64(F.lit(seed), "order_key", "copy"), n_shards).cast("int")
        placed = (chosen.withColumn("shard", shard)
                  .withColumn("key", F.xxhash64(F.lit(seed + 1), "order_key", "copy"))
                  .select("modality", "shard", "key", "start_s", "doc_id", "segment", "copy", "tokens", "cuts"))
        total_shards = sum(shards.values())
        with timer("write_seconds"):
            out = (placed.repartition(total_shards, "modality", "shard")
                   .sortWithinPartitions("modality", "shard", "key", "start_s", "doc_id", "copy")
                   .mapInArrow(shard_writer_fn(out_dir, seq_length, vocab.eod, vocab.pad, int(p["open_bins"]),
                                               vocab.specials["<|cont|>"], s3), from_arrow_schema(WRITER_OUT))
                   .localCheckpoint())      # the shards are written once; two reads of what the writers said
            rows = [r.asDict() for r in out.where("kind = 'shard'").select(
                "modality", "shard", *[n for n, _ in SHARD_FIELDS]).orderBy("modality", "shard").collect()]
        seconds = time.monotonic() - t0
        vocab_uri = join(out_dir, "vocab.json")
        vocab_bytes = json.dumps(vocab.manifest, indent=1, sort_keys=True).encode()
        write_bytes(vocab_uri, vocab_bytes, s3)
        input_versions = {"gold.tokens": int(version)}
        shares_t = {m: v["target"] for m, v in mix["modality"].items()}
        shares_r = {m: v["realised"] for m, v in mix["modality"].items()}
        table_rows = [{**r, "export_id": export_id, "input_versions": input_versions, "vocab_version": vocab.version,
                       "seq_length": seq_length,
                       "manifest_path": manifest_uri, "run_id": run.run_id, "pipeline_version": pipeline_version(),
                       "phase": mix["phase"], "share_target": shares_t, "share_realised": shares_r,
                       "repeated": mix["repeated"]}
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
        _, docs_written = lake.insert_counted("gold.export_docs", doc_rows, docs_out, check=False)
        run.expect("gold.export_docs (documents the plan selects)", docs_out, docs_written)
        groups = {}
        for r in rows:
            g = groups.setdefault(r["modality"], {"weight": plan.shares[r["modality"]], "shards": [], "tokens": 0})
            g["shards"].append({"prefix": rel(r["path_prefix"], out_dir), "bin_sha256": r["bin_sha256"],
                                "idx_sha256": r["idx_sha256"], "n_sequences": r["n_sequences"],
                                "n_tokens": r["n_tokens"]})
            g["tokens"] += r["n_tokens"]
        manifest = {"export_id": export_id, "vocab_version": vocab.version, "vocab": "vocab.json",
                    "vocab_sha256": hashlib.sha256(vocab_bytes).hexdigest(), "seq_length": seq_length,
                    "eod": vocab.eod, "pad": vocab.pad, "cont": vocab.specials["<|cont|>"], "vocab_size": vocab.size,
                    "groups": groups, "mixture": mix, "input_versions": input_versions,
                    "shards": [rel(r["path_prefix"], out_dir) for r in rows],
                    "run_id": run.run_id, "pipeline_version": pipeline_version()}
        write_bytes(manifest_uri, json.dumps(manifest, indent=1, sort_keys=True).encode(), s3)
        n_bytes = sum(r["bytes"] for r in rows)
        n_seq = sum(r["n_sequences"] for r in rows)
        n_tok = sum(r["n_tokens"] for r in rows)
        n_pad = sum(r["n_pad"] for r in rows)
        docs_in = sum(r["docs"] for r in hist)
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
        summary = {"run_id": run.run_id, "export_id": export_id, "manifest": manifest_uri, "shards": len(rows),
                   "sequences": n_seq, "seq_length": seq_length, "tokens": n_tok, "docs_in_pool": docs_in,
                   "docs_selected": docs_out,
                   "pad_fraction": round(n_pad / (n_tok + n_pad), 4) if n_tok + n_pad else 0.0,
                   "mb": round(n_bytes / 1e6, 2), "seconds": round(seconds, 2),
                   "shares": {m: (v["target"], v["realised"]) for m, v in mix["modality"].items()},
                   "repeated": mix["repeated"], "mixture_max_abs_error": round(mix["max_abs_error"], 4)}
    log.info("export done: %s", summary)
    return summary


def rel(prefix: str, out_dir: str) -> str:
    """A shard's prefix relative to the export folder (the manifest's form)."""
    prefix = filesystem(prefix)[1] if local_path(prefix) is not None else prefix
    base = filesystem(out_dir)[1] if local_path(out_dir) is not None else out_dir
    if not prefix.startswith(base.rstrip("/") + "/"):
        raise ExportError(f"shard {prefix} is not under the export folder {out_dir}")
    return prefix[len(base.rstrip("/")) + 1:]


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
