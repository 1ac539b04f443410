"""Crawl stage: a polite crawler over ops.frontier writing WARC, and licensed media via yt-dlp.

    lakehouse crawl [--seeds urls.txt ...] [--set crawl.max_depth=2]
    spark-submit jobs/crawl.py --seeds s3a://bucket/seeds/2026-12.txt

A run (1) applies the outcome logs a killed run published but did not apply, (2) adds the
seeds (`crawl.seeds`, --seeds) to ops.frontier, (3) fetches the due URLs (pending, with their
back-off passed; at most `max_urls_per_run`, `max_urls_per_host` each) in Spark tasks
grouped by host (pipelines/crawl/fetch.py; `spark.speculation` must be off), (4) applies this
run's logs (`<lake>/crawl/<dataset>/log/<run_id>/r<round>/`): outcomes onto the
frontier, discovered links and cross-host redirects inserted as new pending URLs, final
failures into ops.rejects, each segment into ops.crawl_files, and (5) downloads licensed
media from `crawl.media.sources` (pipelines/crawl/media.py) and rewrites the media manifest.
The WARC files land under `<lake>/crawl/<dataset>/warc/`; `lakehouse ingest` (and the
nightly's ingest, which runs after crawl) reads the ones ops.crawl_files lists. Accounting:
the URLs due = fetched + redirected + rejected + deferred (pending again), from the tables.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pyarrow as pa
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.sql.pandas.types import from_arrow_schema

from jobs.common.config import ConfigError
from jobs.common.entry import common_parser, open_lake, run_main
from jobs.common.lake import Lake
from jobs.common.runs import StageRun, Timer, reject_rows, write_rejects
from pipelines import uris
from schemas.tables import OPS_FRONTIER

log = logging.getLogger("lakehouse")
STAGE = "crawl"

LOG_SCHEMA = T.StructType([
    T.StructField(n, t) for n, t in [
        ("url", T.StringType()), ("host", T.StringType()), ("dataset", T.StringType()), ("depth", T.IntegerType()),
        ("run_id", T.StringType()), ("status", T.StringType()), ("reason", T.StringType()),
        ("detail", T.StringType()), ("attempts", T.IntegerType()), ("updated_at", T.StringType()),
        ("next_fetch_at", T.StringType()), ("http_status", T.IntegerType()), ("final_url", T.StringType()),
        ("fetched_at", T.StringType()), ("elapsed_s", T.DoubleType()), ("content_type", T.StringType()),
        ("warc_uri", T.StringType()), ("warc_offset", T.LongType()), ("warc_length", T.LongType()),
        ("content_length", T.LongType()), ("x_robots_tag", T.StringType()), ("license", T.StringType()),
        ("robots_meta", T.StringType()), ("links", T.ArrayType(T.StringType())), ("redirect_to", T.StringType()),
        ("warc_bytes", T.LongType())]])
UPDATED = ["status", "reason", "detail", "attempts", "http_status", "next_fetch_at", "fetched_at", "elapsed_s",
           "final_url", "redirect_to", "warc_uri", "warc_offset", "warc_length", "content_type", "content_length",
           "license", "robots_meta", "x_robots_tag", "run_id", "updated_at"]


def folders(lake: Lake, dataset: str) -> dict[str, str]:
    base = uris.join(lake.root, "crawl", dataset)
    return {"base": base, "warc": uris.join(base, "warc"), "log": uris.join(base, "log"),
            "media": uris.join(base, "media"), "manifest": uris.join(base, "media", "manifest.jsonl")}


def check_config(cfg: dict) -> None:
    c = cfg["crawl"]
    for s in c["media"]["sources"]:
        if s.get("info_json") and not uris.exists(uris.to_uri(s["info_json"])):
            raise ConfigError(f"crawl.media.sources: info_json {s['info_json']} does not exist")


# -- the frontier ------------------------------------------------------------------------------
def _frontier_rows(df: DataFrame, run_id: str, kind: str, source: str) -> DataFrame:
    now = F.current_timestamp()
    return df.select("url", "host", F.lit(kind).alias("kind"), "dataset", F.col("depth").cast("int").alias("depth"),
                     F.lit(source).alias("source") if "source" not in df.columns else F.col("source"),
                     (F.col("parent_url") if "parent_url" in df.columns else F.lit(None).cast("string"))
                     .alias("parent_url"),
                     F.lit("pending").alias("status"), F.lit(0).alias("attempts"),
                     F.lit(run_id).alias("added_run_id"), now.alias("updated_at"))


def normalize_fn():
    """mapInArrow: (line) -> (url, host, error): seed lines normalized on the executors."""
    schema = pa.schema([("raw", pa.string()), ("url", pa.string()), ("host", pa.string()), ("error", pa.string())])

    def fn(batches):
        from pipelines.crawl.urls import BadURL, host_key, normalize

        for b in batches:
            raw, url, host, err = [], [], [], []
            for line in b.column(0).to_pylist():
                s = (line or "").strip()
                if not s or s.startswith("#"):
                    continue
                raw.append(s[:2000])
                try:
                    u = normalize(s)
                    url.append(u)
                    host.append(host_key(u))
                    err.append(None)
                except BadURL as e:
                    url.append(None)
                    host.append(None)
                    err.append(str(e))
            yield pa.RecordBatch.from_arrays([pa.array(raw, pa.string()), pa.array(url, pa.string()),
                                              pa.array(host, pa.string()), pa.array(err, pa.string())], schema=schema)
    return fn, schema


def read_seeds(spark: SparkSession, seeds: list[str]) -> DataFrame:
    """The seed lines of text files and `table:` sources, as (raw, url, host, error, seed_source)."""
    fn, schema = normalize_fn()
    parts = []
    for s in seeds:
        if s.startswith("table:"):
            name = s[len("table:"):]
            src = (spark.read.format("delta").load(name) if "/" in name else spark.table(name)).select(
                F.col("url").cast("string").alias("value"))
        else:
            try:
                src = spark.read.text(uris.to_uri(s))
            except Exception as e:   # AnalysisException: the path does not exist
                raise ConfigError(f"crawl seeds {s}: {str(e).splitlines()[0][:300]}") from None
        parts.append(src.mapInArrow(fn, from_arrow_schema(schema)).withColumn("seed_source", F.lit(s)))
    out = parts[0]
    for p in parts[1:]:
        out = out.unionByName(p)
    return out


def add_seeds(lake: Lake, seeds: list[str], dataset: str, run_id: str) -> dict:
    """Insert the seeds' URLs not in the frontier yet; bad lines become `bad_url` rejects."""
    if not seeds:
        return {"read": 0, "added": 0, "bad": 0, "rejects": None}
    lines = read_seeds(lake.spark, seeds).localCheckpoint()
    good = (lines.where("url IS NOT NULL").groupBy("url").agg(F.first("host").alias("host"))
            .withColumn("dataset", F.lit(dataset)).withColumn("depth", F.lit(0)))
    added = lake.merge_insert("ops.frontier", _frontier_rows(good, run_id, "page", "seed"))
    bad = (lines.where("url IS NULL").dropDuplicates(["raw", "seed_source"])
           .select(F.lit(None).cast("string").alias("doc_id"), F.col("seed_source").alias("source_uri"),
                   F.col("raw").alias("source_record"), F.lit(dataset).alias("dataset"),
                   F.lit("bad_url").alias("reason"), F.col("error").alias("detail")))
    return {"read": lines.count(), "added": added, "bad": bad.count(), "rejects": bad}


def due_urls(lake: Lake, c: dict, run_id: str, limit: int) -> DataFrame:
    """Pending page URLs of the dataset whose back-off has passed and that this run has not
    tried yet: seeds and shallow pages first, at most max_urls_per_host per host and `limit`
    in all."""
    f = lake.read("ops.frontier").where(
        (F.col("kind") == "page") & (F.col("dataset") == c["dataset"]) & (F.col("status") == "pending")
        & (F.col("next_fetch_at").isNull() | (F.col("next_fetch_at") <= F.current_timestamp()))
        & (F.col("run_id").isNull() | (F.col("run_id") != run_id)))
    w = Window.partitionBy("host").orderBy("depth", "url")
    return (f.withColumn("_n", F.row_number().over(w)).where(F.col("_n") <= c["max_urls_per_host"])
            .orderBy("depth", "_n", "url").limit(limit)
            .select("url", "host", "dataset", "depth", "attempts"))


# -- applying logs ---------------------------------------------------------------------------
def pending_logs(lake: Lake, log_dir: str, s3: dict | None, run_id: str) -> list[str]:
    """The logs of crawl runs that did not finish (a killed or failed run's; each run logs under
    `<log_dir>/<run_id>/`), not applied yet. A succeeded run applied all of its own, so its
    folder is not listed again."""
    done = set()
    if lake.exists("ops.runs"):
        done = {r.run_id for r in lake.read("ops.runs").where("stage = 'crawl' AND status = 'succeeded'")
                .select("run_id").collect()}
    logs = [u for d in uris.list_files(log_dir, s3, dirs=True) if d.rsplit("/", 1)[-1] not in done | {run_id}
            for u in uris.list_files(d, s3, ".jsonl", recursive=True)]
    return unapplied(lake, logs)


def _url_rejects(df: DataFrame) -> DataFrame:
    """The columns reject_rows takes, for rejected frontier URLs (named by the URL itself)."""
    return df.select(F.lit(None).cast("string").alias("doc_id"), F.col("url").alias("source_uri"),
                     F.col("url").alias("source_record"), "dataset", "reason", "detail")


def unapplied(lake: Lake, logs: list[str]) -> list[str]:
    if not logs or not lake.exists("ops.crawl_files"):
        return logs
    listed = lake.spark.createDataFrame([(u,) for u in logs], "log_uri string")
    return sorted(r.log_uri for r in listed.join(lake.read("ops.crawl_files"), "log_uri", "left_anti").collect())


def apply_logs(lake: Lake, logs: list[str], run_id: str, c: dict) -> dict:
    """Apply published segment logs: outcomes onto ops.frontier, new links and redirect
    targets inserted, final failures into ops.rejects, then the segments into
    ops.crawl_files (last: re-applying after a kill changes nothing twice)."""
    if not logs:
        return {"logs": 0, "outcomes": 0, "links_added": 0, "rejected": 0}
    spark = lake.spark
    raw = (spark.read.schema(LOG_SCHEMA).json(logs)
           .withColumn("name", F.element_at(F.split(F.input_file_name(), "/"), -1)).localCheckpoint())
    w = Window.partitionBy("url").orderBy(F.col("updated_at").desc())
    out = (raw.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")
           .withColumn("next_fetch_at", F.col("next_fetch_at").cast("timestamp"))
           .withColumn("fetched_at", F.col("fetched_at").cast("timestamp"))
           .withColumn("updated_at", F.col("updated_at").cast("timestamp")))
    by_status = {r["status"]: r["count"] for r in out.groupBy("status").count().collect()}
    new = discovered(out, c, run_id).join(out.select("url"), "url", "left_anti")
    _, links_added = lake.merge_update_insert("ops.frontier", out.select("url", *UPDATED), UPDATED, new)
    n_rej, rejected = by_status.get("rejected", 0), 0
    if n_rej:
        rej = _url_rejects(out.where("status = 'rejected'"))
        rejected = write_rejects(lake, reject_rows(rej, STAGE, run_id, "reason", "detail"), n_rej, STAGE)
    by_name = {u.rsplit("/", 1)[-1]: u for u in logs}    # input_file_name() spells URIs as Hadoop does
    files = (raw.groupBy("name").agg(F.first("warc_uri", ignorenulls=True).alias("warc_uri"),
                                     F.first("dataset").alias("dataset"), F.first("host").alias("host"),
                                     F.count("*").alias("urls"),
                                     F.sum(F.when(F.col("status") == "fetched", 1).otherwise(0)).alias("fetched"),
                                     F.first("run_id").alias("run_id"), F.max("warc_bytes").alias("warc_bytes"))
             .join(spark.createDataFrame(list(by_name.items()), "name string, log_uri string"), "name").drop("name")
             .withColumn("applied_run_id", F.lit(run_id)).withColumn("applied_at", F.current_timestamp()))
    lake.merge_insert("ops.crawl_files", files, check=False)
    return {"logs": len(logs), "outcomes": sum(by_status.values()), "links_added": links_added, "rejected": rejected}


def discovered(out: DataFrame, c: dict, run_id: str) -> DataFrame:
    """New pending frontier rows: the links of fetched pages (depth + 1, within max_depth and
    the follow policy) and cross-host redirect targets (same depth), one row per URL."""
    host_of = F.regexp_extract(F.col("url"), r"^[a-zA-Z][a-zA-Z0-9+.-]*://([^/?#]+)", 1)
    links = (out.where("status = 'fetched' AND links IS NOT NULL")
             .select(F.explode("links").alias("url"), F.col("url").alias("parent_url"), "dataset",
                     (F.col("depth") + 1).alias("depth"), F.col("host").alias("parent_host"),
                     F.lit("link").alias("source"))
             .where(F.col("depth") <= c["max_depth"]))
    if c["follow"] == "none":
        links = links.limit(0)
    links = links.withColumn("host", F.lower(host_of))
    if c["follow"] == "same_host":
        links = links.where(F.col("host") == F.col("parent_host"))
    redirects = (out.where("status = 'redirected' AND redirect_to IS NOT NULL")
                 .select(F.col("redirect_to").alias("url"), F.col("url").alias("parent_url"), "dataset", "depth",
                         F.lit("redirect").alias("source")).withColumn("host", F.lower(host_of)))
    both = links.drop("parent_host").unionByName(redirects)
    w = Window.partitionBy("url").orderBy("depth", "parent_url")
    firsts = both.withColumn("_n", F.row_number().over(w)).where("_n = 1").drop("_n")
    return _frontier_rows(firsts, run_id, "page", "link")


# -- media -----------------------------------------------------------------------------------
def media_step(lake: Lake, c: dict, run_id: str, s3: dict | None) -> dict:
    """yt-dlp over crawl.media.sources; outcomes upserted into ops.frontier (kind = media),
    the fetched files listed in the media manifest ingest reads."""
    from pipelines.crawl.media import acquire, write_manifest

    m = c["media"]
    where = folders(lake, c["dataset"])
    dataset = m["dataset"] or f"{c['dataset']}-media"
    local_root = uris.local_path(where["media"])
    stage_dir = local_root or tempfile.mkdtemp(prefix="lakehouse-media-")
    os.makedirs(stage_dir, exist_ok=True)
    archive = os.path.join(stage_dir, "download-archive.txt")
    archive_uri = uris.join(where["media"], "download-archive.txt")
    if local_root is None and uris.exists(archive_uri, s3):
        with open(archive, "wb") as fh:
            fh.write(uris.read_bytes(archive_uri, s3))
    try:
        outcomes = acquire(m["sources"], m, stage_dir, archive, dataset, run_id)
        if local_root is None:      # an object-store lake: publish what was downloaded, then the archive
            for o in outcomes:
                if o.get("path"):
                    rel = os.path.relpath(o["path"], stage_dir)
                    fs, path = uris.filesystem(uris.join(where["media"], rel), s3)
                    uris.publish(o["path"], fs, path)
                    o["path"] = uris.join(where["media"], rel)
            if os.path.exists(archive):
                fs, path = uris.filesystem(archive_uri, s3)
                uris.publish(archive, fs, path)
    finally:
        if local_root is None:
            shutil.rmtree(stage_dir, ignore_errors=True)
    if not outcomes:
        return {"considered": 0, "fetched": 0, "rejected": 0}
    existing = uris.read_bytes(where["manifest"], s3).decode() if uris.exists(where["manifest"], s3) else None
    uris.write_bytes(where["manifest"], write_manifest(outcomes, existing).encode(), s3)
    spark = lake.spark
    rows = [{"url": o["url"], "host": urlsplit(o["url"]).netloc.lower() or urlsplit(o["url"]).scheme or "local",
             "kind": "media", "dataset": o["dataset"], "depth": 0, "source": "media", "parent_url": None,
             "status": o["status"], "reason": o.get("reason"), "detail": o.get("detail"), "attempts": 1,
             "license": o.get("license"), "license_raw": o.get("license_raw"), "media_path": o.get("path"),
             "content_length": o.get("content_length"),
             "fetched_at": datetime.fromisoformat(o["fetched_at"]) if o.get("fetched_at") else None,
             "added_run_id": run_id, "run_id": run_id, "updated_at": datetime.now(UTC)} for o in outcomes]
    df = spark.createDataFrame(rows, T.StructType([f for f in OPS_FRONTIER.fields if f.name in rows[0]]))
    lake.merge_upsert("ops.frontier", df)
    rej = _url_rejects(df.where("status = 'rejected'"))
    n_rej = sum(o["status"] == "rejected" for o in outcomes)
    rejected = write_rejects(lake, reject_rows(rej, STAGE, run_id, "reason", "detail"), n_rej, STAGE) if n_rej else 0
    fetched = (lake.read("ops.frontier").where((F.col("run_id") == run_id) & (F.col("kind") == "media")
                                               & (F.col("status") == "fetched")).count())
    return {"considered": len(outcomes), "fetched": fetched, "rejected": rejected, "dataset": dataset}


# -- the run ---------------------------------------------------------------------------------
def run_crawl(spark: SparkSession, lake: Lake, cfg: dict, seeds: list[str] | None = None) -> dict:
    """One crawl run; returns its summary (also in ops.runs)."""
    from pipelines.crawl.fetch import SUMMARY, crawl_fn

    c = cfg["crawl"]
    seeds = list(c["seeds"]) + list(seeds or [])
    with StageRun(lake, STAGE, cfg, {"seeds": seeds}) as run:
        where = folders(lake, c["dataset"])
        s3 = uris.s3_settings(spark.sparkContext.getConf())
        timer = Timer(run)
        lake.ensure("ops.frontier")
        lake.ensure("ops.crawl_files")
        run.inputs("ops.frontier")
        run.outputs("ops.frontier", "ops.crawl_files", "ops.rejects")
        if spark.conf.get("spark.speculation", "false").lower() == "true":
            raise ConfigError("crawl: spark.speculation is on: a speculative copy of a task would fetch its hosts "
                              "a second time, at once, past the politeness limits; run crawl with it off")
        run_logs = uris.join(where["log"], run.run_id)
        with timer("recover_seconds"):
            recovered = apply_logs(lake, pending_logs(lake, where["log"], s3, run.run_id), run.run_id, c)
        with timer("seed_seconds"):
            seeded = add_seeds(lake, seeds, c["dataset"], run.run_id)
        info = {"software": "lakehouse-etl crawl (warcio)", "format": "WARC File Format 1.1",
                "conformsTo": "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/",
                "http-header-user-agent": c["user_agent"], "robots": "obey", "operator": c["robots_agent"],
                "isPartOf": c["dataset"], "run_id": run.run_id}
        t0 = time.monotonic()
        summaries, dues, not_before, links_added, segments, rejected_landed = [], [], {}, 0, 0, 0
        for rnd in range(c["max_rounds"]):    # each round fetches what the last one discovered
            left = c["max_urls_per_run"] - sum(d[1] for d in dues)
            if left <= 0:
                break
            due = due_urls(lake, c, run.run_id, left).localCheckpoint()
            n = due.count()
            if not n:
                break
            hosts = due.select("host").distinct().count()
            log.info("crawl %s round %d: %d URLs due on %d hosts", c["dataset"], rnd + 1, n, hosts)
            parts = c["partitions"] or max(1, -(-hosts // c["hosts_per_task"]))
            with timer("fetch_seconds"):
                got = (due.repartition(parts, "host")
                       .mapInArrow(crawl_fn(c, run.run_id, where["warc"], uris.join(run_logs, f"r{rnd}"), s3, info,
                                            not_before, rnd),
                                   from_arrow_schema(SUMMARY)).collect())
            summaries += got
            not_before.update({s["host"]: s["not_before"] for s in got if s["not_before"]})
            with timer("apply_seconds"):      # the logs the tasks published (earlier attempts' included)
                applied = apply_logs(lake, sorted({u for s in got for u in s["logs"]}), run.run_id, c)
            links_added += applied["links_added"]
            segments += applied["logs"]
            rejected_landed += applied["rejected"]
            dues.append((due.select("url"), n))
        with timer("apply_seconds"):          # anything published but not reported (a lost task)
            late = apply_logs(lake, unapplied(lake, uris.list_files(run_logs, s3, ".jsonl", recursive=True)),
                              run.run_id, c)
            segments += late["logs"]
            rejected_landed += late["rejected"]
        fetch_s = time.monotonic() - t0
        n_due = sum(n for _, n in dues)
        hosts = len({s["host"] for s in summaries})
        tried = dues[0][0] if dues else lake.spark.createDataFrame([], "url string")
        for d, _ in dues[1:]:
            tried = tried.unionByName(d)
        # accounting: every due URL was tried by this run and left in one state
        mine = lake.read("ops.frontier").join(tried, "url", "left_semi").where(F.col("run_id") == run.run_id)
        states = {r["status"]: r["count"] for r in mine.groupBy("status").count().collect()}
        seed_rej = 0
        if seeded["bad"]:
            seed_rej = write_rejects(lake, reject_rows(seeded["rejects"], STAGE, run.run_id, "reason", "detail"),
                                     seeded["bad"], STAGE)
        media = {"considered": 0, "fetched": 0, "rejected": 0}
        if c["media"]["sources"]:
            with timer("media_seconds"):
                media = media_step(lake, c, run.run_id, s3)
        fetched, redirected, pending, page_rejected = (states.get(k, 0) for k in
                                                       ("fetched", "redirected", "pending", "rejected"))
        run.expect("ops.rejects (crawl)", page_rejected, rejected_landed)
        run.count(rows_in=n_due + seeded["bad"] + media["considered"],
                  kept=fetched + redirected + media["fetched"], rejected=page_rejected + seed_rej + media["rejected"],
                  written=fetched + media["fetched"], skipped=pending)
        requests = sum(s["requests"] for s in summaries)
        gaps = [s["min_gap_s"] for s in summaries if s["min_gap_s"] is not None]
        metrics = {"urls_due": n_due, "hosts": hosts, "requests": requests, "pages_fetched": fetched,
                   "redirected": redirected, "deferred": pending, "seeds_read": seeded["read"],
                   "seeds_added": seeded["added"], "links_added": links_added + recovered["links_added"],
                   "rounds": len(dues), "segments": segments, "recovered_segments": recovered["logs"],
                   "recovered_outcomes": recovered["outcomes"], "media_fetched": media["fetched"],
                   "media_rejected": media["rejected"], "rounds_seconds": fetch_s,
                   "pages_per_s": fetched / run.metrics["fetch_seconds"] if run.metrics.get("fetch_seconds") else 0.0}
        if gaps:
            metrics["min_host_gap_s"] = min(gaps)
        if summaries:             # one host's queue, start to end (robots.txt, waits and fetches)
            metrics["host_seconds_max"] = max(s["seconds"] for s in summaries)
            metrics["host_seconds_mean"] = sum(s["seconds"] for s in summaries) / len(summaries)
        for k, v in metrics.items():
            run.metric(k, v)
        for r in mine.where(F.col("reason").isNotNull()).groupBy("status", "reason").count().collect():
            run.metric(f"{r['status']}.{r['reason']}", r["count"])
        summary = {"run_id": run.run_id, "dataset": c["dataset"], "rows_in": run.rows_in, "kept": run.rows_kept,
                   "rejected": run.rows_rejected, "deferred": pending, "fetched": fetched, "hosts": hosts,
                   "requests": requests, "rounds": len(dues), "segments": segments,
                   "recovered_segments": recovered["logs"],
                   "media_fetched": media["fetched"], "seconds": round(fetch_s, 2)}
    log.info("crawl %s done: %s", c["dataset"], summary)
    return summary


def crawl_inputs(lake: Lake, cfg: dict) -> list[dict]:
    """What the ingest stage reads from the crawl: the WARC files of applied segments (an
    orphan WARC whose log never landed is not read) and the media manifest."""
    c = cfg["crawl"]
    out = []
    if lake.exists("ops.crawl_files"):
        files = (lake.read("ops.crawl_files").where((F.col("dataset") == c["dataset"]) & F.col("warc_uri").isNotNull())
                 .select("warc_uri").distinct())
        if lake.exists("ops.ingest_files"):      # only the ones not ingested yet: no listing of every WARC ever
            files = files.join(lake.read("ops.ingest_files").select(F.col("file_uri").alias("warc_uri")), "warc_uri",
                               "left_anti")
        warcs = sorted(r.warc_uri for r in files.collect())
        if warcs:
            out.append({"dataset": c["dataset"], "paths": warcs, "license": None, "manifest": None})
    manifest = folders(lake, c["dataset"])["manifest"]
    if uris.exists(manifest, uris.s3_settings(lake.spark.sparkContext.getConf())):
        out.append({"dataset": c["media"]["dataset"] or f"{c['dataset']}-media", "paths": [], "license": None,
                    "manifest": manifest})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = common_parser("lakehouse crawl", __doc__.split("\n\n")[0])
    ap.add_argument("--seeds", action="append", default=[], help="a seed list (text file, one URL per line) or "
                    "table:<name or Delta path> with a url column (repeatable; added to crawl.seeds)")
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, "lakehouse-crawl")
    print(json.dumps(run_crawl(spark, lake, cfg, args.seeds), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
