"""Plumbing every job imports: config, SparkSession factory, lake tables, the run registry."""
