"""Airflow DAG: the nightly pipeline, one SparkSubmitOperator task per stage of jobs/stages.py.

Copy (or symlink) into the DAGs folder; needs apache-airflow-providers-apache-spark and a
`spark_default` connection to the cluster's master. The tasks and their order come from the
pipeline definition in the checkout (`jobs.stages.PIPELINE`, which imports only pydantic),
so a new stage appears here without editing this file. Each task submits
`infra/spark_job.py nightly --only <stage>` (jobs/nightly.py): the stage runs only if its
input tables changed since its last successful run (ops.runs), under the lake lock, so
reruns and backfills are safe; a failed task is retried by Airflow and resumes where the
stage stopped (stages are incremental and MERGE on keys). A stage that wants a GPU asks
its executors for one. Settings come from Airflow Variables:
  lakehouse_home    - the checkout on the Airflow worker (default /opt/lakehouse-etl)
  lakehouse_profile - run profile (default cluster)
  lakehouse_jars    - the output of `python -m infra.jars list --s3` (the pinned jars)
"""
from __future__ import annotations

import sys
from datetime import datetime, timedelta

from airflow import DAG
from airflow.models import Variable
from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

HOME = Variable.get("lakehouse_home", default_var="/opt/lakehouse-etl")
PROFILE = Variable.get("lakehouse_profile", default_var="cluster")
JARS = Variable.get("lakehouse_jars", default_var="")
if HOME not in sys.path:
    sys.path.insert(0, HOME)
from jobs.stages import PIPELINE  # noqa: E402  (the checkout is on the path only now)

DELTA = {"spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
         "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog"}
GPU = {"spark.executor.resource.gpu.amount": "1", "spark.task.resource.gpu.amount": "1"}

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
    for stage in PIPELINE:
        task = SparkSubmitOperator(
            task_id=stage.name,
            conn_id="spark_default",
            application=f"{HOME}/infra/spark_job.py",
            application_args=["nightly", "--profile", PROFILE, "--only", stage.name],
            py_files=f"{HOME}/build/lakehouse-py.zip",        # built by infra/submit.sh
            jars=JARS,
            conf={**DELTA, **(GPU if stage.gpu else {})},
            name=f"lakehouse-{stage.name}",
        )
        if previous is not None:
            previous >> task
        previous = task
