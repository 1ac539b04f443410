"""Video near-duplicates in Spark: shots' keyframe hashes matched with the image stage's banded
pHash/dHash (pipelines/image/neardup.py), then aggregated per pair of videos.

1. Shot pairs: every kept shot's fingerprint (pHash + dHash of the frame nearest its middle)
   goes through the image near-duplicate keys and verification, new shots against each
   other and against the shots of earlier representative videos.
2. Video pairs: two videos are near-duplicates when matched shots cover at least
   `min_shot_share` of the shots of the one with fewer (a re-encoded or resized copy
   matches every shot; a video quoting one shot of another does not).
3. Components and keep policy (pipelines/dedup/components.py keep_one) over videos: an
   earlier kept video stays the representative; otherwise the most pixels, then the longest,
   then the smallest id.
"""
from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from pipelines.dedup.components import keep_one
from pipelines.image import neardup as image_neardup


def video_edges(shot_edges: DataFrame, shots: DataFrame, p: dict) -> DataFrame:
    """(src, dst, hamming) between videos from verified shot edges (src, dst, hamming).
    `shots`: doc_id, video (every kept shot of the videos involved)."""
    per_video = shots.groupBy("video").agg(F.count("*").alias("n"))
    va = shots.select(F.col("doc_id").alias("src"), F.col("video").alias("va"))
    vb = shots.select(F.col("doc_id").alias("dst"), F.col("video").alias("vb"))
    pairs = (shot_edges.join(va, "src").join(vb, "dst").where(F.col("va") != F.col("vb"))
             .select(F.least("va", "vb").alias("x"), F.greatest("va", "vb").alias("y"),
                     F.when(F.col("va") < F.col("vb"), F.col("src")).otherwise(F.col("dst")).alias("sx"),
                     F.when(F.col("va") < F.col("vb"), F.col("dst")).otherwise(F.col("src")).alias("sy"),
                     "hamming"))
    agg = pairs.groupBy("x", "y").agg(F.countDistinct("sx").alias("mx"), F.countDistinct("sy").alias("my"),
                                      F.min("hamming").alias("hamming"))
    nx = per_video.select(F.col("video").alias("x"), F.col("n").alias("nx"))
    ny = per_video.select(F.col("video").alias("y"), F.col("n").alias("ny"))
    share = F.least("mx", "my") / F.least("nx", "ny")
    return (agg.join(nx, "x").join(ny, "y").where(share >= p["min_shot_share"])
            .select(F.col("x").alias("src"), F.col("y").alias("dst"), "hamming"))


def assign(new: DataFrame, index: DataFrame | None, p: dict) -> DataFrame:
    """Per new video: dup_cluster_id, dup_cluster_size, dup_keep, dup_ref, dup_hamming.

    `new`: the kept shots of videos not compared yet (doc_id, video, fingerprint, signals);
    `index`: the kept shots of earlier representative videos (also dup_cluster_id)."""
    def meta(df: DataFrame, old: bool) -> DataFrame:
        return (df.groupBy("video").agg(
                    F.max(F.col("signals")["width"] * F.col("signals")["height"]).alias("pixels"),
                    F.sum(F.col("signals")["duration_s"]).alias("seconds"),
                    (F.first("dup_cluster_id") if old else F.lit(None).cast("string")).alias("old_cluster"))
                .select(F.col("video").alias("doc_id"), F.lit(old).alias("is_old"), "pixels", "seconds",
                        "old_cluster"))
    new_h = image_neardup.hashes(new).localCheckpoint()
    old_h = image_neardup.hashes(index) if index is not None else None
    every = new_h if old_h is None else new_h.unionByName(old_h)
    shot_edges = image_neardup.verified_edges(image_neardup.candidates(new_h, old_h, p), every, p)
    shots = new.select("doc_id", "video")
    if index is not None:
        shots = shots.unionByName(index.select("doc_id", "video"))
    edges = video_edges(shot_edges, shots, p).localCheckpoint()
    m = meta(new, False) if index is None else meta(new, False).unionByName(meta(index, True))
    marks = keep_one(m, edges, [F.col("pixels").desc_nulls_last(), F.col("seconds").desc_nulls_last()], "hamming")
    return marks.withColumnRenamed("hamming", "dup_hamming")
