"""What every job's main() shares: common CLI options, logging, config + SparkSession + lake."""
from __future__ import annotations

import argparse
import logging
import sys

from jobs.common.config import ConfigError, load_config
from jobs.common.lake import Lake


def common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=prog, description=description)
    ap.add_argument("--profile", default="sample", help="run profile: sample, nightly, cluster, or a YAML path")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="override a config key, e.g. --set spark.conf.spark.sql.shuffle.partitions=16")
    ap.add_argument("--lake", help="lake root (local folder, s3a://bucket/prefix); overrides lake.root")
    ap.add_argument("-v", "--verbose", action="store_true")
    return ap


def configure_logging(verbose: bool = False) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("py4j", "botocore", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # PySpark 4 logs every failed query as a JSON blob; the jobs report errors themselves
    for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
        logging.getLogger(name).setLevel(logging.CRITICAL)


def config_from_args(args: argparse.Namespace) -> dict:
    overrides = list(args.overrides)
    if args.lake:
        overrides.append(f"lake.root={args.lake}")
    return load_config(args.profile, overrides)


def open_lake(args: argparse.Namespace, app: str):
    """(cfg, spark, lake) for a job's parsed arguments; prints where the Spark UI is."""
    from jobs.common.spark import get_spark, ui_url

    configure_logging(getattr(args, "verbose", False))
    cfg = config_from_args(args)
    spark = get_spark(cfg, app)
    url = ui_url(spark)
    if url:
        logging.getLogger("lakehouse").info("Spark UI: %s", url)
    return cfg, spark, Lake(spark, cfg["lake"]["root"])


def run_main(fn, argv=None) -> int:
    """Call a job's main body, turning config and input errors into one clear line and exit 2."""
    from pipelines.ingest import InputError

    try:
        return fn(argv) or 0
    except (ConfigError, InputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def dataset_stage_main(stage: str, doc: str, run_fn, argv: list[str] | None, reapply_fn=None,
                       reapply_help: str = "") -> int:
    """main() of a stage that processes what is pending, optionally for some datasets only;
    with `reapply_fn`, `--reapply` runs that instead (same signature as run_fn)."""
    ap = common_parser(f"lakehouse {stage}", doc.split("\n\n")[0])
    ap.add_argument("--dataset", action="append", help="only these datasets (repeatable); default all")
    if reapply_fn is not None:
        ap.add_argument("--reapply", action="store_true", help=reapply_help)
    args = ap.parse_args(argv)
    cfg, spark, lake = open_lake(args, f"lakehouse-{stage}")
    fn = reapply_fn if reapply_fn is not None and args.reapply else run_fn
    print(fn(spark, lake, cfg, args.dataset))
    return 0
