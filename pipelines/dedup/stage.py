"""The dedup stage's Spark logic: signatures, candidate edges, clusters, representatives.

Edges come from three keys: the hash of the normalized token sequence (exact duplicates),
the normalized URL, and the LSH band buckets of the MinHash signatures (near duplicates;
each bucket links its members to its smallest doc id, optionally only where the estimated
Jaccard of the pair passes `threshold`). Clusters are the connected components of those
edges. A cluster keeps one representative: a document kept by an earlier run if any (so
nightly runs never revise old decisions), else by `dedup.keep_by` (default: the highest
quality tier, then the earliest fetch), then the smallest doc_id. The others are dropped
with reason exact_duplicate, url_duplicate or near_duplicate and the kept doc_id.

Incremental: `index` holds the signatures of documents kept by earlier runs
(silver.minhash); only its rows sharing a key with a new document join the computation.
"""
from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.pandas.types import from_arrow_schema

from pipelines.dedup.components import connected_components
from pipelines.dedup.minhash import MinHasher

SIGNATURE = pa.schema([
    ("doc_id", pa.string()), ("lang", pa.string()), ("norm_hash", pa.string()), ("url_norm", pa.string()),
    ("n_shingles", pa.int32()), ("signature", pa.binary()), ("bands", pa.list_(pa.int64())),
])


def normalize_url(url: str | None) -> str | None:
    if not url:
        return None
    try:
        p = urlsplit(url.strip())
    except ValueError:
        return None
    host = (p.hostname or "").lower().removeprefix("www.")
    path = p.path.rstrip("/") or "/"
    return urlunsplit(("", host, path, p.query, "")).lstrip("/")


def hasher_from_config(cfg: dict | None = None, **params) -> MinHasher:
    """The hasher of a config's `dedup` section (None: the defaults), `params` overriding it."""
    if cfg is None:
        from schemas.config import DedupConfig

        cfg = {"dedup": DedupConfig().model_dump()}
    cfg = {"dedup": {**cfg["dedup"], **params}}
    d = cfg["dedup"]
    return MinHasher(num_perm=d["num_perm"], seed=d["seed"], ngram=d["ngram"], cjk_ngram=d["cjk_ngram"],
                     bands=d["bands"], rows=d["rows"])


def signature_fn(hasher: MinHasher, keep: tuple[str, ...] = ()):
    names = SIGNATURE.names

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            n = b.num_rows
            flat, sizes, norm = hasher.batch(b.column("text").to_pylist(), b.column("lang").to_pylist())
            sigs = hasher.signatures_flat(flat, sizes)
            bands = hasher.band_hashes(sigs)
            width = sigs.shape[1] * 4
            sig_col = pa.Array.from_buffers(pa.binary(), n, [None, pa.py_buffer(np.arange(0, (n + 1) * width, width,
                                                                                           dtype=np.int32)),
                                                             pa.py_buffer(np.ascontiguousarray(sigs).tobytes())])
            band_col = pa.ListArray.from_arrays(pa.array(np.arange(0, (n + 1) * hasher.bands, hasher.bands,
                                                                   dtype=np.int32)), pa.array(bands.ravel()))
            out = {"doc_id": b.column("doc_id"), "lang": b.column("lang"), "norm_hash": pa.array(norm, pa.string()),
                   "url_norm": pa.array([normalize_url(u) for u in b.column("url").to_pylist()], pa.string()),
                   "n_shingles": pa.array(sizes.astype(np.int32)), "signature": sig_col, "bands": band_col}
            yield pa.RecordBatch.from_arrays([out[k] for k in names] + [b.column(c) for c in keep],
                                             names=names + list(keep))
    return run


def signatures(docs: DataFrame, hasher: MinHasher, keep: tuple[str, ...] = ()) -> DataFrame:
    """docs (doc_id, text, lang, url, *keep) -> signature rows (SIGNATURE schema), then the
    `keep` columns passed through unchanged (no join back to the documents)."""
    schema = from_arrow_schema(SIGNATURE)
    for c in keep:
        schema = schema.add(docs.schema[c])
    return docs.select("doc_id", "text", "lang", "url", *keep).mapInArrow(signature_fn(hasher, tuple(keep)), schema)


def jaccard_estimate(a, b):
    """Fraction of equal MinHash values of two signatures (binary uint32 arrays), per row:
    one numpy comparison over the whole batch (all signatures have the same width)."""
    import pandas as pd
    ok = (a.notna() & b.notna()).to_numpy()
    out = np.zeros(len(a))
    if ok.any():
        x = np.frombuffer(b"".join(a[ok]), np.uint32).reshape(int(ok.sum()), -1)
        y = np.frombuffer(b"".join(b[ok]), np.uint32).reshape(x.shape)
        out[ok] = (x == y).mean(axis=1)
    return pd.Series(out)


def _key_edges(nodes: DataFrame, key: str, kind: str) -> DataFrame:
    """Link every node to the smallest doc_id sharing its (non-null) key: for keys every
    member truly shares (exact hash, URL), a star is the whole relation. A window over the
    key: one shuffle, and a boilerplate page repeated millions of times spills to disk
    instead of building one huge list."""
    k = nodes.select("doc_id", key).where(F.col(key).isNotNull())
    return (k.select("doc_id", F.min("doc_id").over(Window.partitionBy(key)).alias("root"))
            .where(F.col("doc_id") != F.col("root"))
            .select(F.col("doc_id").alias("src"), F.col("root").alias("dst"), F.lit(kind).alias("kind")))


def bucket_edges(nodes: DataFrame, key: str, window: int) -> DataFrame:
    """Candidate pairs of an LSH bucket: its members ordered by a hash of (bucket, doc_id), each
    paired with the next `window` of them. Unlike a star on the bucket's minimum, a pair of
    near-duplicates is found when the minimum is unlike both (in any bucket of up to
    window + 1 members, and otherwise through the other bands they share, each ordered
    differently); the work is window x members however large the bucket."""
    order = Window.partitionBy(key).orderBy(F.xxhash64(key, "doc_id"), "doc_id")
    nxt = nodes.select("doc_id", key, *[F.lead("doc_id", i).over(order).alias(f"n{i}") for i in range(1, window + 1)])
    pairs = nxt.select("doc_id", F.explode(F.array(*[F.col(f"n{i}") for i in range(1, window + 1)])).alias("other"))
    return (pairs.where(F.col("other").isNotNull())
            .select(F.least("doc_id", "other").alias("src"), F.greatest("doc_id", "other").alias("dst"))
            .distinct().withColumn("kind", F.lit("lsh")))


def candidate_edges(pool: DataFrame, threshold: float | None, window: int) -> DataFrame:
    """Edges (src, dst, kind) among the pool (doc_id, norm_hash, url_norm, bands, signature).

    Band hashes already differ per band (`MinHasher.band_hashes`), so the 64-bit hash alone
    is the bucket key."""
    exact = _key_edges(pool, "norm_hash", "exact")
    url = _key_edges(pool, "url_norm", "url")
    lsh = bucket_edges(pool.select("doc_id", F.explode("bands").alias("h")), "h", window)
    if threshold:
        sig = pool.select("doc_id", "signature")
        lsh = (lsh.join(sig.withColumnRenamed("doc_id", "src").withColumnRenamed("signature", "s1"), "src")
               .join(sig.withColumnRenamed("doc_id", "dst").withColumnRenamed("signature", "s2"), "dst")
               .where(F.pandas_udf(jaccard_estimate, "double")("s1", "s2") >= threshold)
               .select("src", "dst", "kind"))
    return exact.unionByName(url).unionByName(lsh)


def related_index(new: DataFrame, index: DataFrame, broadcast: bool = False) -> DataFrame:
    """Rows of the index (earlier kept docs) sharing any key with a new document.
    `broadcast`: ship the new documents' keys, and the ids they find, to every task instead
    of shuffling the index's bands, hashes, URLs and signatures (they must fit in memory)."""
    small = F.broadcast if broadcast else (lambda df: df)

    def keys(df, col):
        return small(df.select(col).where(F.col(col).isNotNull()).distinct())
    nb = small(new.select(F.explode("bands").alias("h")).distinct())
    ib = index.select("doc_id", F.explode("bands").alias("h"))
    by_band = ib.join(nb, "h", "left_semi").select("doc_id")
    by_hash = index.join(keys(new, "norm_hash"), "norm_hash", "left_semi").select("doc_id")
    by_url = index.join(keys(new, "url_norm"), "url_norm", "left_semi").select("doc_id")
    ids = by_band.unionByName(by_hash).unionByName(by_url).distinct()
    return index.join(small(ids), "doc_id", "left_semi")


POOL_COLS = ["doc_id", "norm_hash", "url_norm", "bands", "signature", "quality_tier", "fetch_time"]
OLD_COLS = ["cluster_id", "cluster_size"]       # what the index remembers of an earlier kept document's cluster


def build_pool(new: DataFrame, index: DataFrame | None, documents: DataFrame | None = None,
               broadcast: bool = False) -> DataFrame:
    """The new documents (is_old false) and the index rows sharing a key with them (is_old
    true, with their cluster's stored id and size), checkpointed: what `assign` clusters.
    Index rows written before the index stored clusters take them from `documents`
    (silver.documents: dup_cluster_id, dup_cluster_size). `broadcast`: see related_index."""
    pool = new.select(*POOL_COLS, *[F.lit(None).cast(t).alias(c) for c, t in zip(OLD_COLS, ("string", "long"))],
                      F.lit(False).alias("is_old"))
    if index is not None:
        old = (related_index(new, index, broadcast).select(*POOL_COLS, *OLD_COLS, F.lit(True).alias("is_old"))
               .localCheckpoint())
        if documents is not None and not old.where(F.col("cluster_id").isNull()).isEmpty():
            stored = documents.select("doc_id", F.col("dup_cluster_id").alias("_id"),
                                      F.col("dup_cluster_size").alias("_size"))
            old = (old.join(stored, "doc_id", "left")
                   .withColumn("cluster_id", F.coalesce("cluster_id", "_id", "doc_id"))
                   .withColumn("cluster_size", F.coalesce("cluster_size", "_size", F.lit(1))).drop("_id", "_size"))
        pool = pool.unionByName(old)
    return pool.localCheckpoint()


def cluster_members(index: DataFrame, pool: DataFrame) -> DataFrame:
    """(cluster_id, members): how many indexed documents (kept or not) each cluster of the
    pool's earlier documents holds already."""
    ids = pool.where("is_old").select("cluster_id").distinct()
    return index.select("cluster_id").join(ids, "cluster_id", "left_semi").groupBy("cluster_id").agg(
        F.count("*").alias("members"))


def assign(pool: DataFrame, threshold: float | None, window: int = 2, counts: DataFrame | None = None,
           keep_by: tuple[str, ...] = ("quality_tier", "fetch_time")) -> DataFrame:
    """Per document of the pool: dup_cluster_id, dup_cluster_size, dup_keep, reason,
    ref_doc_id, is_old and kept_in_cluster (kept documents, old and new, in its cluster).

    A component led by an earlier kept document keeps that document's stored cluster id, and
    its size counts the earlier members (`counts`, from `cluster_members`) as well as the new
    ones, so a cluster's rows share one id across nightly runs. The new rows (is_old false) are
    written, and the earlier representative of a cluster that grew (`grew`) gets its new size;
    old decisions stand: a new document that bridges two earlier clusters joins the one of the
    representative, the other keeps its id."""
    comp = connected_components(candidate_edges(pool, threshold, window))
    rank = F.when(F.col("quality_tier") == "high", 0).when(F.col("quality_tier") == "mid", 1).otherwise(2)
    meta = pool.select("doc_id", "norm_hash", "url_norm", "quality_tier", "fetch_time", "is_old", *OLD_COLS)
    members = (meta.join(comp.withColumnRenamed("node", "doc_id"), "doc_id", "left")
               .withColumn("root", F.coalesce("root", "doc_id")))
    order = {"quality_tier": rank, "fetch_time": F.col("fetch_time").asc_nulls_last()}
    w = Window.partitionBy("root").orderBy(F.col("is_old").desc(), *(order[k] for k in keep_by), "doc_id")
    by_root = Window.partitionBy("root")
    ranked = members.withColumn("_pos", F.row_number().over(w))
    ranked = (ranked.withColumn("new_members", F.sum((~F.col("is_old")).cast("long")).over(by_root))
              .withColumn("kept_in_cluster", F.sum((F.col("is_old") | (F.col("_pos") == 1)).cast("int")).over(by_root)))
    reps = ranked.where("_pos = 1")
    if counts is not None:
        reps = reps.join(counts, "cluster_id", "left")
    else:
        reps = reps.withColumn("members", F.lit(None).cast("long"))
    earlier = F.greatest(F.coalesce("members", F.lit(0)), F.coalesce("cluster_size", F.lit(1)))
    reps = reps.select("root", F.col("doc_id").alias("rep_id"), F.col("norm_hash").alias("rep_hash"),
                       F.col("url_norm").alias("rep_url"),
                       F.coalesce(F.col("cluster_id"), F.col("root")).alias("cluster"),
                       (F.col("new_members") + F.when(F.col("is_old"), earlier).otherwise(0)).alias("size"))
    out = ranked.join(reps, "root")
    keep = F.col("doc_id") == F.col("rep_id")
    reason = (F.when(keep, F.lit(None)).when(F.col("norm_hash") == F.col("rep_hash"), "exact_duplicate")
              .when(F.col("url_norm") == F.col("rep_url"), "url_duplicate").otherwise("near_duplicate"))
    return out.select("doc_id", F.col("cluster").alias("dup_cluster_id"), F.col("size").alias("dup_cluster_size"),
                      keep.alias("dup_keep"), reason.alias("reason"),
                      F.when(keep, F.lit(None)).otherwise(F.col("rep_id")).alias("ref_doc_id"), "is_old",
                      "kept_in_cluster", (F.col("is_old") & keep & (F.col("new_members") > 0)).alias("grew"))


def residual_rate(out: DataFrame) -> float:
    """After dedup: the share of the kept documents of the pool (this run's kept ones and
    the earlier kept ones it touched) whose cluster still holds another kept document.
    Earlier decisions are never revised, so a new document close to two old kept ones
    leaves both kept in one cluster; otherwise it is 0. Misses of the LSH detector itself
    are not in it: bench/README gives its recall."""
    r = (out.where("dup_keep OR is_old")
         .agg(F.count("*").alias("n"), F.sum((F.col("kept_in_cluster") > 1).cast("int")).alias("left")).first())
    return (r["left"] or 0) / r["n"] if r["n"] else 0.0
