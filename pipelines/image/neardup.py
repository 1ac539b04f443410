"""Image near-duplicates in Spark: 16-bit bands of pHash and dHash -> candidates -> Hamming
distances -> components -> one kept image per cluster.

1. Keys: each 64-bit hash cut into 4 bands of 16 bits; (hash, band, value) is a key. Two
   images whose pHashes differ in at most 3 bits share a band (pigeonhole); at larger
   distances a shared band is likely, not certain, and the dHash bands give a second chance.
   Keys held by more than `max_bucket` images (flat or generic content) are skipped.
2. Verification: pHash distance <= max_phash and dHash distance <= max_dhash (bit counts
   of the XOR, in Spark SQL).
3. Components and keep policy (pipelines/dedup/components.py keep_one): an earlier kept
   image stays the representative; otherwise the most pixels, then the longest caption,
   then the smallest id.
"""
from __future__ import annotations

from collections.abc import Iterator

import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.dedup.components import keep_one

BANDS, BAND_BITS = 4, 16
HASHES = pa.schema([("doc_id", pa.string()), ("ph", pa.int64()), ("dh", pa.int64())])


def _hashes(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    for b in batches:
        fps = b.column("fingerprint").to_pylist()
        ph = [int.from_bytes(f[:8], "big", signed=True) for f in fps]
        dh = [int.from_bytes(f[8:16], "big", signed=True) for f in fps]
        yield pa.RecordBatch.from_arrays([b.column("doc_id"), pa.array(ph, pa.int64()), pa.array(dh, pa.int64())],
                                         schema=HASHES)


def hashes(images: DataFrame) -> DataFrame:
    """doc_id, ph, dh (the two 64-bit hashes as signed longs) from the 16-byte fingerprints."""
    return images.select("doc_id", "fingerprint").mapInArrow(_hashes, "doc_id string, ph long, dh long")


def keys(h: DataFrame) -> DataFrame:
    mask = (1 << BAND_BITS) - 1
    parts = [F.lit(k * BANDS + i) * (1 << BAND_BITS) + F.shiftrightunsigned(c, BAND_BITS * i).bitwiseAND(mask)
             for k, c in enumerate(("ph", "dh")) for i in range(BANDS)]
    return h.select("doc_id", F.explode(F.array(*parts)).alias("key"))


def candidates(new_h: DataFrame, old_h: DataFrame | None, p: dict) -> DataFrame:
    """Distinct (a, b), a < b, sharing a key, at least one of them new."""
    new_k = keys(new_h).withColumn("is_new", F.lit(True))
    pool = new_k
    if old_h is not None:
        old_k = keys(old_h).join(new_k.select("key").distinct(), "key", "left_semi").withColumn("is_new", F.lit(False))
        pool = new_k.unionByName(old_k)
    sizes = pool.groupBy("key").agg(F.count("*").alias("n"))
    pool = pool.join(sizes.where((F.col("n") > 1) & (F.col("n") <= p["max_bucket"])), "key", "left_semi")
    x, y = pool.alias("x"), pool.alias("y")
    return (x.join(y, (F.col("x.key") == F.col("y.key")) & (F.col("x.doc_id") < F.col("y.doc_id"))
                   & (F.col("x.is_new") | F.col("y.is_new")))
            .select(F.col("x.doc_id").alias("a"), F.col("y.doc_id").alias("b")).distinct())


def verified_edges(cands: DataFrame, h: DataFrame, p: dict) -> DataFrame:
    """(src, dst, hamming) of candidates within both distances; hamming is the pHash distance."""
    ha = h.select(F.col("doc_id").alias("a"), F.col("ph").alias("pa"), F.col("dh").alias("da"))
    hb = h.select(F.col("doc_id").alias("b"), F.col("ph").alias("pb"), F.col("dh").alias("db"))
    dp = F.bit_count(F.col("pa").bitwiseXOR(F.col("pb")))
    dd = F.bit_count(F.col("da").bitwiseXOR(F.col("db")))
    return (cands.join(ha, "a").join(hb, "b").where((dp <= p["max_phash"]) & (dd <= p["max_dhash"]))
            .select(F.col("a").alias("src"), F.col("b").alias("dst"), dp.cast("int").alias("hamming")))


def assign(new: DataFrame, index: DataFrame | None, p: dict) -> DataFrame:
    """Per new image: dup_cluster_id, dup_cluster_size, dup_keep, dup_ref, dup_hamming.

    `new`: this run's kept images (doc_id, fingerprint, signals); `index`: earlier kept
    images that are representatives (dup_keep true; also dup_cluster_id), which stay kept."""
    def meta(df: DataFrame, old: bool) -> DataFrame:
        return df.select("doc_id", F.lit(old).alias("is_old"),
                         (F.col("signals")["width"] * F.col("signals")["height"]).alias("pixels"),
                         F.col("signals")["caption_chars"].alias("caption"),
                         (F.col("dup_cluster_id") if old else F.lit(None).cast("string")).alias("old_cluster"))
    new_h = hashes(new).localCheckpoint()
    old_h = hashes(index) if index is not None else None
    every = new_h if old_h is None else new_h.unionByName(old_h)
    edges = verified_edges(candidates(new_h, old_h, p), every, p).localCheckpoint()
    m = meta(new, False) if index is None else meta(new, False).unionByName(meta(index, True))
    marks = keep_one(m, edges, [F.col("pixels").desc_nulls_last(), F.col("caption").desc_nulls_last()], "hamming")
    return marks.withColumnRenamed("hamming", "dup_hamming")
