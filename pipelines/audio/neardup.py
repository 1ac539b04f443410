"""Audio near-duplicates in Spark: fingerprint keys -> aligned votes -> bit error rate ->
components -> one kept segment per cluster.

1. Keys: 1 in `key_share` sub-fingerprint values of each segment (chosen by a hash of the
   value, so copies pick the same frames: pipelines/audio/fingerprint.py `index_keys`),
   with their positions. A 32-bit value is a band of the LSH: re-encodes keep a few
   percent of their words bit-exact at the same offset, unrelated audio almost never.
2. Candidates: segments sharing keys, voted per alignment (position difference); pairs
   with `min_votes` at their best alignment. Keys held by more than `max_bucket` segments
   (silence, steady tones) are skipped.
3. Verification: the bit error rate of the two fingerprints at that alignment over at
   least `min_overlap_s`; at most `max_ber` is an edge.
4. Components (pipelines/dedup/components.py, large-star/small-star) and the keep policy of
   text dedup: an earlier kept segment stays the representative; otherwise the best
   (highest SNR, then longest), then the smallest id.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from pipelines.audio import fingerprint as fpm
from pipelines.dedup.components import keep_one

KEYS = pa.schema([("doc_id", pa.string()), ("pos", pa.int32()), ("key", pa.int64())])


def _keys_fn(share: int):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for b in batches:
            ids, pos, keys = [], [], []
            for doc_id, fp in zip(b.column("doc_id").to_pylist(), b.column("fingerprint").to_pylist()):
                p, k = fpm.index_keys(np.frombuffer(fp or b"", "<u4"), share)
                ids += [doc_id] * p.size
                pos += p.tolist()
                keys += k.astype(np.int64).tolist()
            yield pa.RecordBatch.from_arrays([pa.array(ids, pa.string()), pa.array(pos, pa.int32()),
                                              pa.array(keys, pa.int64())], schema=KEYS)
    return run


def keys(segments: DataFrame, share: int) -> DataFrame:
    return segments.select("doc_id", "fingerprint").mapInArrow(_keys_fn(share), "doc_id string, pos int, key long")


def candidates(new_keys: DataFrame, old_keys: DataFrame, p: dict) -> DataFrame:
    """(a, b, offset, votes): pairs with a new segment, a < b, at their best alignment."""
    pool = new_keys.withColumn("is_new", F.lit(True)).unionByName(
        old_keys.join(new_keys.select("key").distinct(), "key", "left_semi").withColumn("is_new", F.lit(False)))
    sizes = pool.groupBy("key").agg(F.countDistinct("doc_id").alias("n"))
    pool = pool.join(sizes.where((F.col("n") > 1) & (F.col("n") <= p["max_bucket"])), "key", "left_semi")
    x, y = pool.alias("x"), pool.alias("y")
    pairs = (x.join(y, (F.col("x.key") == F.col("y.key")) & (F.col("x.doc_id") < F.col("y.doc_id"))
                    & (F.col("x.is_new") | F.col("y.is_new")))
             .select(F.col("x.doc_id").alias("a"), F.col("y.doc_id").alias("b"),
                     (F.col("x.pos") - F.col("y.pos")).alias("offset")))
    votes = pairs.groupBy("a", "b", "offset").agg(F.count("*").alias("votes"))
    best = Window.partitionBy("a", "b").orderBy(F.col("votes").desc(), F.abs("offset"), "offset")
    return (votes.where(F.col("votes") >= p["min_votes"]).withColumn("_r", F.row_number().over(best))
            .where("_r = 1").drop("_r"))


def _ber_udf(min_overlap: int):
    @F.pandas_udf("double")
    def ber(fa: pd.Series, fb: pd.Series, offset: pd.Series) -> pd.Series:
        return pd.Series([fpm.bit_error_rate(np.frombuffer(a, "<u4"), np.frombuffer(b, "<u4"), int(o), min_overlap)
                          for a, b, o in zip(fa, fb, offset)])
    return ber


def verified_edges(cands: DataFrame, prints: DataFrame, p: dict) -> DataFrame:
    """(src, dst, ber) of candidates whose aligned bit error rate is at most max_ber."""
    fa = prints.select(F.col("doc_id").alias("a"), F.col("fingerprint").alias("fa"))
    fb = prints.select(F.col("doc_id").alias("b"), F.col("fingerprint").alias("fb"))
    ber = _ber_udf(int(p["min_overlap_s"] * fpm.FPS))
    return (cands.join(fa, "a").join(fb, "b").select("a", "b", ber("fa", "fb", "offset").alias("ber"))
            .where(F.col("ber") <= p["max_ber"]).select(F.col("a").alias("src"), F.col("b").alias("dst"), "ber"))


def assign(new: DataFrame, index: DataFrame | None, p: dict) -> DataFrame:
    """Per new segment: dup_cluster_id, dup_cluster_size, dup_keep, dup_ref, dup_ber.

    `new`: this run's kept segments (doc_id, fingerprint, signals); `index`: earlier kept
    segments that are representatives (dup_keep true), which stay kept."""
    new_keys = keys(new, p["key_share"]).localCheckpoint()
    meta = new.select("doc_id", F.lit(False).alias("is_old"), F.col("signals")["snr_db"].alias("snr"),
                      F.col("signals")["duration_s"].alias("dur"), F.lit(None).cast("string").alias("old_cluster"))
    if index is not None:
        old_keys = keys(index, p["key_share"])
        prints = new.select("doc_id", "fingerprint").unionByName(index.select("doc_id", "fingerprint"))
        meta = meta.unionByName(index.select("doc_id", F.lit(True).alias("is_old"), F.col("signals")["snr_db"],
                                             F.col("signals")["duration_s"], F.col("dup_cluster_id"))
                                .toDF("doc_id", "is_old", "snr", "dur", "old_cluster"))
    else:
        old_keys = new_keys.limit(0)
        prints = new.select("doc_id", "fingerprint")
    edges = verified_edges(candidates(new_keys, old_keys, p), prints, p).localCheckpoint()
    marks = keep_one(meta, edges, [F.col("snr").desc_nulls_last(), F.col("dur").desc_nulls_last()], "ber")
    return marks.select("doc_id", "dup_cluster_id", "dup_cluster_size", "dup_keep", "dup_ref",
                        F.col("ber").cast("double").alias("dup_ber"))
