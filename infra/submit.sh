#!/usr/bin/env bash
# Submit one stage to a Spark cluster with the project as a zip and the pinned jars. The
# application is infra/spark_job.py <stage> (jobs/<stage>.py as the script itself would put
# jobs/ on sys.path, where jobs/tokenize.py shadows the standard library).
#
#   SPARK_SUBMIT_ARGS="--master spark://host:7077 --executor-memory 8g" \
#     infra/submit.sh ingest --profile cluster --dataset cc-2026-44 s3a://crawl/2026-44/
#
# LAKEHOUSE_S3=1 adds the hadoop-aws + AWS SDK jars (an s3a:// lake or inputs). The Python
# packages of setup.cfg must be importable on the executors: install them on the nodes, or
# ship a packed environment (venv-pack / conda-pack) with --archives and PYSPARK_PYTHON.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
stage=${1:?usage: infra/submit.sh <stage> [job arguments]}; shift
py=${PYTHON:-python3}
(cd "$here" && "$py" -m jobs.stages "$stage" >/dev/null) || exit 2
mkdir -p "$here/build"
zip="$here/build/lakehouse-py.zip"
rm -f "$zip"
(cd "$here" && "$py" - "$zip" <<'PY'
import sys, zipfile, pathlib
with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_DEFLATED) as z:
    # data/sample/texts: the quality model's training data (its version is a hash of it);
    # corpora/ (sample and benchmark generators) is development code and stays out
    for pkg in ["pipelines", "jobs", "schemas", "infra", "quality_models", "tokenize_jobs", "train", "data/sample"]:
        for p in sorted(pathlib.Path(pkg).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts and p.suffix in (".py", ".yaml", ".xml", ".json", ".txt"):
                z.write(p)
PY
)
jars=$(cd "$here" && "$py" -m infra.jars list ${LAKEHOUSE_S3:+--s3})
export PYSPARK_PYTHON=${PYSPARK_PYTHON:-$(command -v "$py")}
# shellcheck disable=SC2086
exec spark-submit ${SPARK_SUBMIT_ARGS:-} \
  --jars "$jars" --py-files "$zip" \
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension \
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog \
  "$here/infra/spark_job.py" "$stage" "$@"
