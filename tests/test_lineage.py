"""`lakehouse lineage`: a sample document's story from an export shard back to its WARC record."""
from __future__ import annotations

from pyspark.sql import functions as F

from pipelines.lineage import doc_story, shard_story


def test_shard_back_to_warc_record_and_a_dropped_document(exported, spark):
    lake, cfg, summary = exported
    shard = lake.read("gold.exports").orderBy("shard").first()
    story = shard_story(lake, f"{shard.export_id}:{shard.shard}", max_docs=10 ** 6)
    assert story["found"] and story["n_docs"] == len(story["doc_ids"]) == shard.n_docs
    assert story["input_versions"]["gold.tokens"] == shard.input_versions["gold.tokens"]
    assert sum(s["docs"] for s in story["sources"]) == shard.n_docs
    assert story["run"][0]["stage"] == "export"
    assert shard_story(lake, shard.path_prefix + ".bin")["index"] == shard.shard
    # a web document of that shard: from the shard back to its WARC record
    web = (lake.read("bronze.documents").where("dataset = 'sample-web'")
           .join(spark.createDataFrame([(d,) for d in story["doc_ids"]], "doc_id string"), "doc_id")
           .select("doc_id").first())
    doc = doc_story(lake, web.doc_id)
    assert doc["status"] == "exported" and doc["found"]
    src = doc["source"][0]
    assert src["source_record"].startswith("<urn:uuid:") and src["source_uri"].endswith(".warc.gz")
    assert src["source_offset"] is not None
    assert doc["clean"][0]["decision"] == "kept" and doc["silver"][0]["dup_keep"]
    assert doc["tokens"][0]["n_tokens"] > 0
    assert any(s["export_id"] == shard.export_id and s["shard"] == shard.shard for s in doc["shards"])
    stages = {r["stage"] for r in doc["runs"]}
    assert {"ingest", "clean", "dedup", "pii", "tokenize", "export"} <= stages
    assert doc["pii"][0]["license_status"] in ("allowed", "kept_unknown")
    assert all(r["config_hash"] and r["code_version"] for r in doc["runs"])
    # a dropped duplicate says why and who was kept instead
    rej = lake.read("ops.rejects").where("stage = 'dedup'").orderBy("doc_id").first()
    dropped = doc_story(lake, rej.doc_id)
    assert dropped["status"] == "dropped" and not dropped["tokens"] and not dropped["shards"]
    assert dropped["rejects"][0]["reason"] == rej.reason and dropped["rejects"][0]["ref_doc_id"]
    assert not doc_story(lake, "no-such-doc")["found"]
    assert not shard_story(lake, "export-nope:0")["found"]
    assert lake.read("gold.exports").where(F.col("export_id") == shard.export_id).count() == summary["shards"]
