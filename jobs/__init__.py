"""spark-submit entry points, one per stage, plus the `lakehouse` CLI (jobs/cli.py)."""
