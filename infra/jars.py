"""The pinned JVM jars (infra/pom.xml), fetched with Maven into a cache outside the work tree.

    python -m infra.jars fetch [--s3]     # download into ~/.cache/lakehouse/jars/{delta,s3}
    python -m infra.jars list [--s3]      # comma-separated paths, for spark-submit --jars

The cache folder can be moved with LAKEHOUSE_JARS_DIR.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

POM = Path(__file__).with_name("pom.xml")
SPARK_BINARY = "4.0"  # must match <spark.binary> in pom.xml and the pyspark pin in setup.cfg
GROUPS = {"delta": [], "s3": ["-Ps3"]}


class JarsError(RuntimeError):
    """The pinned jars are missing and could not be fetched."""


def jars_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_JARS_DIR", Path.home() / ".cache" / "lakehouse" / "jars"))


def fetch(group: str = "delta", quiet: bool = True) -> list[Path]:
    """Download one jar group with mvn (idempotent: Maven's local repository caches)."""
    mvn = shutil.which("mvn")
    if mvn is None:
        raise JarsError("mvn not found on PATH: install Maven (apt-get install maven) to fetch the pinned jars")
    out = jars_dir() / group
    out.mkdir(parents=True, exist_ok=True)
    cmd = [mvn, "-B", "-f", str(POM), *GROUPS[group], "dependency:copy-dependencies", f"-Djars.dir={out}"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise JarsError(f"mvn could not fetch the {group} jars (is Maven Central reachable?):\n{proc.stdout[-2000:]}")
    return jar_paths(group, fetch_missing=False)


def jar_paths(group: str = "delta", fetch_missing: bool = True) -> list[Path]:
    """Paths of one jar group, fetching it first when the cache is empty."""
    paths = sorted((jars_dir() / group).glob("*.jar"))
    if not paths and fetch_missing:
        paths = fetch(group)
    if not paths:
        raise JarsError(f"no {group} jars under {jars_dir() / group}: run `python -m infra.jars fetch`")
    return paths


def check_spark_version() -> None:
    """Fail early when the installed pyspark does not match the Spark build of the pinned jars."""
    import pyspark

    if not pyspark.__version__.startswith(SPARK_BINARY + "."):
        raise JarsError(
            f"pyspark {pyspark.__version__} is installed but infra/pom.xml pins Delta jars built for "
            f"Spark {SPARK_BINARY}: reinstall with `pip install -e .` or change both pins together"
        )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m infra.jars", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("action", choices=["fetch", "list"])
    ap.add_argument("--s3", action="store_true", help="also the hadoop-aws + AWS SDK jars (s3a:// lakes)")
    args = ap.parse_args(argv)
    groups = ["delta", "s3"] if args.s3 else ["delta"]
    try:
        if args.action == "fetch":
            for g in groups:
                print(f"{g}: {len(fetch(g, quiet=True))} jars in {jars_dir() / g}")
        else:
            print(",".join(str(p) for g in groups for p in jar_paths(g)))
    except JarsError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
