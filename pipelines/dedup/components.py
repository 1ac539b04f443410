"""Connected components in Spark without collecting to the driver: the alternating
large-star / small-star algorithm (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014). Converges in O(log n) rounds; each star step is a window over
the node (its neighbours' minimum) and a distinct: no join.

Input: an edge DataFrame (src, dst) of string node ids. Output: (node, root) for every node
that has an edge, root being the smallest node id of its component.
"""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

log = logging.getLogger("lakehouse")


def _large_star(e: DataFrame) -> DataFrame:
    """Each node u links its larger neighbours to m(u) = min(N(u) + u)."""
    both = e.select("a", "b").unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    m = F.least(F.min("b").over(Window.partitionBy("a")), F.col("a"))
    return (both.select("a", "b", m.alias("m")).where(F.col("b") > F.col("a"))
            .select(F.col("b").alias("a"), F.col("m").alias("b")).distinct())


def _small_star(e: DataFrame) -> DataFrame:
    """Each node u links itself and its smaller neighbours to m(u) = min(N_smaller(u) + u)."""
    o = e.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b")).where(F.col("a") != F.col("b"))
    x = o.select("a", "b", F.least(F.min("b").over(Window.partitionBy("a")), F.col("a")).alias("m"))
    out = x.select(F.col("b").alias("a"), F.col("m").alias("b")).unionByName(x.select("a", F.col("m").alias("b")))
    return out.where(F.col("a") != F.col("b")).distinct()


def _is_star_forest(e: DataFrame) -> bool:
    """True when every node has at most one parent (a > b edge to a smaller node) and no
    parent has a parent: the fixed point of large-star/small-star (neither changes a star
    forest). One groupBy, cheaper than comparing two rounds' edge sets."""
    roles = (e.select(F.col("a").alias("x"), F.lit(1).alias("child"))
             .unionByName(e.select(F.col("b").alias("x"), F.lit(0).alias("child"))))
    per = roles.groupBy("x").agg(F.sum("child").alias("c"), F.sum(1 - F.col("child")).alias("p"))
    return per.where("c > 1 OR (c > 0 AND p > 0)").limit(1).count() == 0


def connected_components(edges: DataFrame, max_rounds: int = 50) -> DataFrame:
    """(node, root) for every node appearing in `edges` (columns src, dst)."""
    e = (edges.select(F.greatest("src", "dst").alias("a"), F.least("src", "dst").alias("b"))
         .where(F.col("a") != F.col("b")).distinct().localCheckpoint())
    for rnd in range(1, max_rounds + 1):
        e = _small_star(_large_star(e)).localCheckpoint()
        if _is_star_forest(e):
            log.info("connected components converged after %d rounds", rnd)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    # at the fixed point every edge is (node, root) with root the component minimum
    roots = e.select(F.col("b").alias("node"), F.col("b").alias("root")).distinct()
    return e.select(F.col("a").alias("node"), F.col("b").alias("root")).unionByName(roots).distinct()


def keep_one(meta: DataFrame, edges: DataFrame, order: list, score: str) -> DataFrame:
    """The keep policy of the media near-duplicate passes, over verified edges (src, dst, <score>):
    per new node of `meta` its component's id and size, whether it is the one kept, the kept
    node it duplicates and its best (lowest) score against any neighbour.

    `meta`: doc_id, is_old (an earlier representative: it stays kept, and its old_cluster
    stays the cluster's id), old_cluster, and the columns `order` ranks the others by (best
    first); ties go to the smallest doc_id."""
    comp = connected_components(edges)
    ends = (edges.select(F.col("src").alias("doc_id"), score)
            .unionByName(edges.select(F.col("dst").alias("doc_id"), score)))
    best = ends.groupBy("doc_id").agg(F.min(score).alias(score))
    members = (meta.join(comp.withColumnRenamed("node", "doc_id"), "doc_id", "left")
               .withColumn("root", F.coalesce("root", "doc_id")))
    ranked = (members.withColumn("_pos", F.row_number().over(
                  Window.partitionBy("root").orderBy(F.col("is_old").desc(), *order, "doc_id")))
              .withColumn("dup_cluster_size", F.count("*").over(Window.partitionBy("root"))))
    reps = ranked.where("_pos = 1").select("root", F.col("doc_id").alias("rep"),
                                           F.coalesce("old_cluster", "doc_id").alias("dup_cluster_id"))
    out = ranked.where(~F.col("is_old")).join(reps, "root").join(best, "doc_id", "left")
    keep = F.col("doc_id") == F.col("rep")
    return out.select("doc_id", "dup_cluster_id", "dup_cluster_size", keep.alias("dup_keep"),
                      F.when(keep, F.lit(None)).otherwise(F.col("rep")).alias("dup_ref"), score)
