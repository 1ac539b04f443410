"""The one SparkSession factory.

Embedded default: `local[*]` with the Delta extension and the pinned jars from infra/.
Under spark-submit the master, memory and jars come from the cluster; only settings the
cluster left unset are filled in (the Delta extension and catalog are always required).
"""
from __future__ import annotations

import logging
import os
import sys

from pyspark.sql import SparkSession

from infra import jars

log = logging.getLogger("lakehouse")

DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def under_spark_submit() -> bool:
    """True when this Python process was started by spark-submit (the JVM already runs)."""
    return "PYSPARK_GATEWAY_PORT" in os.environ


def needs_s3(root: str) -> bool:
    return root.startswith(("s3a://", "s3://", "s3n://"))


def get_spark(cfg: dict, app_name: str | None = None) -> SparkSession:
    """Build (or return the running) SparkSession for a config from jobs.common.config."""
    scfg = cfg["spark"]
    name = app_name or scfg["app_name"]
    builder = SparkSession.builder.appName(name)
    if under_spark_submit():
        # Delta's extension and catalog are static: they must be set before the session exists
        for k, v in DELTA_CONF.items():
            builder = builder.config(k, v)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel(os.environ.get("LAKEHOUSE_SPARK_LOG_LEVEL", "WARN"))
        for k, v in scfg["conf"].items():
            if spark.conf.get(k, None) is None and spark.conf.isModifiable(k):
                spark.conf.set(k, str(v))   # runtime settings the cluster left unset
        return spark

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers use this interpreter's packages
    jars.check_spark_version()
    paths = jars.jar_paths("delta")
    if needs_s3(cfg["lake"]["root"]):
        paths += jars.jar_paths("s3")
    builder = builder.master(scfg["master"]).config("spark.jars", ",".join(map(str, paths)))
    for k, v in {**scfg["conf"], **DELTA_CONF}.items():
        builder = builder.config(k, str(v))
    for k, v in s3a_conf().items():
        builder = builder.config(k, v)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("LAKEHOUSE_SPARK_LOG_LEVEL", "WARN"))
    return spark


def s3a_conf() -> dict[str, str]:
    """s3a settings taken from the standard AWS environment (never the credentials themselves:
    the SDK's default provider chain reads those)."""
    conf = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = endpoint
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
        if endpoint.startswith("http://"):
            conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = "false"
    if os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"):
        conf["spark.hadoop.fs.s3a.endpoint.region"] = os.environ.get("AWS_REGION") or os.environ["AWS_DEFAULT_REGION"]
    return conf


def ui_url(spark: SparkSession) -> str | None:
    return spark.sparkContext.uiWebUrl
