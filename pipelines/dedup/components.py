"""Connected components in Spark without collecting to the driver: the alternating
large-star / small-star algorithm (Kiveris et al., "Connected Components in MapReduce and
Beyond", SoCC 2014). Converges in O(log n) rounds; each round is two groupBy + join steps.

Input: an edge DataFrame (src, dst) of string node ids. Output: (node, root) for every node
that has an edge, root being the smallest node id of its component.
"""
from __future__ import annotations

import logging

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

log = logging.getLogger("lakehouse")


def _large_star(e: DataFrame) -> DataFrame:
    """Each node u links its larger neighbours to m(u) = min(N(u) + u)."""
    both = e.select(F.col("a"), F.col("b")).unionByName(e.select(F.col("b").alias("a"), F.col("a").alias("b")))
    m = both.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("m"))
    return (both.join(m, "a").where(F.col("b") > F.col("a"))
            .select(F.col("b").alias("a"), F.col("m").alias("b")).distinct())


def _small_star(e: DataFrame) -> DataFrame:
    """Each node u links itself and its smaller neighbours to m(u) = min(N_smaller(u) + u)."""
    o = e.select(F.greatest("a", "b").alias("a"), F.least("a", "b").alias("b")).where(F.col("a") != F.col("b"))
    m = o.groupBy("a").agg(F.least(F.min("b"), F.first("a")).alias("m"))
    out = (o.join(m, "a").select(F.col("b").alias("a"), F.col("m").alias("b"))
           .unionByName(m.select("a", F.col("m").alias("b"))))
    return out.where(F.col("a") != F.col("b")).distinct()


def connected_components(edges: DataFrame, max_rounds: int = 50) -> DataFrame:
    """(node, root) for every node appearing in `edges` (columns src, dst)."""
    e = (edges.select(F.greatest("src", "dst").alias("a"), F.least("src", "dst").alias("b"))
         .where(F.col("a") != F.col("b")).distinct().localCheckpoint())
    for rnd in range(1, max_rounds + 1):
        nxt = _small_star(_large_star(e)).localCheckpoint()
        changed = nxt.exceptAll(e).limit(1).count() + e.exceptAll(nxt).limit(1).count()
        e = nxt
        if not changed:
            log.info("connected components converged after %d rounds", rnd)
            break
    else:
        raise RuntimeError(f"connected components did not converge in {max_rounds} rounds")
    # at the fixed point every edge is (node, root) with root the component minimum
    roots = e.select(F.col("b").alias("node"), F.col("b").alias("root")).distinct()
    return e.select(F.col("a").alias("node"), F.col("b").alias("root")).unionByName(roots).distinct()
