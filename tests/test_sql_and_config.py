"""`lakehouse sql` over the registered lake (lineage, history, time travel) and config handling."""
from __future__ import annotations

import json

import pytest

from jobs.common.config import ConfigError, config_hash, load_config, parse_override
from jobs.common.runs import scrub, scrub_config


def test_lakehouse_sql_answers_a_lineage_query(sample_lake, capsys):
    from jobs.sql import main

    lake, _, runs = sample_lake
    doc = lake.read("bronze.documents").filter("dataset = 'sample-web'").orderBy("doc_id").first()
    q = (f"SELECT d.doc_id, d.source_uri, d.source_record, d.source_offset, r.stage, r.config_hash, r.status "
         f"FROM bronze.documents d JOIN ops.runs r ON r.run_id = d.ingest_run_id WHERE d.doc_id = '{doc.doc_id}'")
    assert main(["--lake", lake.root, "--format", "json", q]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert len(out) == 1
    assert out[0]["source_record"] == doc.source_record and out[0]["stage"] == "ingest"
    assert out[0]["status"] == "succeeded" and out[0]["source_uri"].endswith(".warc.gz")


def test_lakehouse_sql_history_and_version_as_of(sample_lake, spark):
    from jobs.sql import run_sql

    lake, _, _ = sample_lake
    hist = run_sql(spark, "DESCRIBE HISTORY bronze.documents", fmt="json")
    assert hist[-1]["version"] == 0 and {h["operation"] for h in hist} >= {"MERGE"}
    v0 = run_sql(spark, "SELECT count(*) AS n FROM bronze.documents VERSION AS OF 0", fmt="json")[0]["n"]
    v1 = run_sql(spark, "SELECT count(*) AS n FROM bronze.documents VERSION AS OF 1", fmt="json")[0]["n"]
    assert v0 == 0 and v1 > 0  # version 0 is the empty table; version 1 the first ingest
    dropped = run_sql(spark, "SELECT reason, run_id FROM ops.rejects WHERE stage = 'ingest' AND reason = 'decode_error'",
                      fmt="json")
    assert dropped and all(d["run_id"].startswith("ingest-") for d in dropped)


def test_sql_errors_are_one_line(sample_lake, capsys):
    from jobs.sql import main

    lake, _, _ = sample_lake
    assert main(["--lake", lake.root, "SELECT * FROM silver.nothing_here"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "bronze.documents" in err


def test_config_profiles_overrides_and_hash(tmp_path, monkeypatch):
    cfg = load_config("sample", ["lake.root=/x", "spark.conf.spark.sql.shuffle.partitions=3", "ingest.max_body_bytes=10"])
    assert cfg["lake"]["root"] == "/x" and cfg["ingest"]["max_body_bytes"] == 10
    assert cfg["spark"]["conf"]["spark.sql.shuffle.partitions"] == 3 and cfg["profile"] == "sample"
    assert "spark" not in cfg["spark"]["conf"]  # dotted Spark keys stay whole
    assert config_hash(cfg) == config_hash(json.loads(json.dumps(cfg)))
    assert config_hash(cfg) != config_hash(load_config("sample"))
    monkeypatch.setenv("LAKEHOUSE_ROOT", "s3a://bucket/lake")
    assert load_config("nightly")["lake"]["root"] == "s3a://bucket/lake"
    assert parse_override("a.b=[1, 2]") == {"a": {"b": [1, 2]}}
    with pytest.raises(ConfigError, match="key.path=value"):
        parse_override("novalue")
    bad = tmp_path / "bad.yaml"
    bad.write_text("lake: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(bad))


def test_scrub_masks_credentials():
    s = scrub("failed with AKIAABCDEFGHIJKLMNOP secret_key=abc123 s3a://user:pw@bucket/x password: hunter2")
    assert "AKIAABCDEFGHIJKLMNOP" not in s and "abc123" not in s and "pw@" not in s and "hunter2" not in s


def test_config_json_masks_secret_keys_and_stays_json():
    cfg = {"spark": {"conf": {"spark.hadoop.fs.s3a.secret.key": "xyz", "spark.hadoop.fs.s3a.access.key": "AK",
                              "spark.sql.shuffle.partitions": 8}}}
    out = json.loads(json.dumps(scrub_config(cfg)))
    assert out["spark"]["conf"]["spark.hadoop.fs.s3a.secret.key"] == "****"
    assert out["spark"]["conf"]["spark.hadoop.fs.s3a.access.key"] == "****"
    assert out["spark"]["conf"]["spark.sql.shuffle.partitions"] == 8


def test_a_table_made_by_an_older_release_gains_its_specs_columns_and_properties(lake_at, tmp_path):
    """silver.documents as an older release made it (no deletion vectors, a column fewer):
    the first use adds the column and the property, and later uses change nothing."""
    from delta.tables import DeltaTable
    from pyspark.sql.types import StructType

    from jobs.common.lake import Lake
    from schemas.tables import table

    lake, _ = lake_at(tmp_path / "lake")
    spec = table("silver.documents")
    older = StructType([f for f in spec.schema.fields if f.name != "dup_cluster_size"])
    (DeltaTable.createIfNotExists(lake.spark).location(lake.path(spec.name)).addColumns(older)
     .partitionedBy(*spec.partition_by).property("delta.enableChangeDataFeed", "true").execute())
    fresh = Lake(lake.spark, lake.root)
    fresh.ensure(spec.name)
    detail = DeltaTable.forPath(lake.spark, lake.path(spec.name)).detail().first()
    assert detail["properties"]["delta.enableDeletionVectors"] == "true"
    assert detail["properties"]["delta.enableChangeDataFeed"] == "true"
    assert "dup_cluster_size" in fresh.read(spec.name).columns
    before = fresh.version(spec.name)
    Lake(lake.spark, lake.root).ensure(spec.name)                # nothing more to change: no commit
    assert fresh.version(spec.name) == before
