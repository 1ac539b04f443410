"""Airflow DAG: the nightly pipeline, one SparkSubmitOperator task per stage.

Copy (or symlink) into the DAGs folder; needs apache-airflow-providers-apache-spark and a
`spark_default` connection to the cluster's master. Each task submits
`infra/spark_job.py nightly --only <stage>` (jobs/nightly.py): the stage runs only if its input tables changed since
its last successful run (ops.runs), under the lake lock, so reruns and backfills are safe;
a failed task is retried by Airflow and resumes where the stage stopped (stages are
incremental and MERGE on keys). Settings come from Airflow Variables:
  lakehouse_home    - the checkout on the Airflow worker (default /opt/lakehouse-etl)
  lakehouse_profile - run profile (default cluster)
  lakehouse_jars    - the output of `python -m infra.jars list --s3` (the pinned jars)
"""
from __future__ import annotations

from datetime import datetime, timedelta

from airflow import DAG
from airflow.models import Variable
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

STAGES = ["ingest", "clean", "dedup", "pii", "tokenize", "export"]
HOME = Variable.get("lakehouse_home", default_var="/opt/lakehouse-etl")
PROFILE = Variable.get("lakehouse_profile", default_var="cluster")
JARS = Variable.get("lakehouse_jars", default_var="")


with DAG(
    dag_id="lakehouse_nightly",
    schedule="30 1 * * *",
    start_date=datetime(2026, 11, 1),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10)},
    tags=["lakehouse"],
) as dag:
    previous = None
    for stage in STAGES:
        task = SparkSubmitOperator(
            task_id=stage,
            conn_id="spark_default",
            application=f"{HOME}/infra/spark_job.py",
            application_args=["nightly", "--profile", PROFILE, "--only", stage],
            py_files=f"{HOME}/build/lakehouse-py.zip",        # built by infra/submit.sh
            jars=JARS,
            conf={"spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
                  "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog"},
            name=f"lakehouse-{stage}",
        )
        if previous is not None:
            previous >> task
        previous = task
