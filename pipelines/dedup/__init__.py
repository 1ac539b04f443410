"""Deduplication: exact (normalized content, URL) and near-duplicate (MinHash LSH) detection,
clusters by connected components in Spark, a deterministic representative per cluster."""
