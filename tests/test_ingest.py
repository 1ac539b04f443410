"""Ingest through Spark into Delta: formats, rejects, accounting, lineage, idempotence, resume."""
from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs.ingest import run_ingest
from schemas.lineage import LineageError, check_lineage


def reasons(lake, dataset):
    rows = lake.read("ops.rejects").filter(F.col("dataset") == dataset).groupBy("reason").count().collect()
    return {r["reason"]: r["count"] for r in rows}


def test_every_input_format_lands(sample_lake):
    lake, _, _ = sample_lake
    docs = lake.read("bronze.documents")
    by_type = {r["record_type"]: r["count"] for r in docs.groupBy("record_type").count().collect()}
    assert by_type["response"] > 600 and by_type["conversion"] == 132 and by_type["parquet"] == 80
    suffixes = {r[0].rsplit(".", 1)[-1] for r in docs.filter("record_type = 'jsonl'").select("source_uri").distinct().collect()}
    assert suffixes == {"jsonl", "gz", "zst"}  # plain, gzip and zstd JSONL
    wet = docs.filter("record_type = 'conversion'").select("lang_hint", "content_format").distinct().collect()
    assert all(r["content_format"] == "text" for r in wet) and {r["lang_hint"] for r in wet} >= {"zh", "en"}


def test_warc_faults_rejected_with_reasons_while_good_records_land(sample_lake):
    lake, _, runs = sample_lake
    got = reasons(lake, "sample-web")
    for reason in ("truncated_archive", "truncated_record", "corrupt_archive", "decode_error", "http_status",
                   "unsupported_content_type", "empty_body"):
        assert got.get(reason, 0) >= 1, (reason, got)
    assert got["decode_error"] == 2  # undeclared GBK and invalid UTF-8; declared GBK decodes
    docs = lake.read("bronze.documents").filter("dataset = 'sample-web'")
    gbk = docs.filter(F.col("url").endswith("-gbk.html")).select("charset", "text").collect()
    assert len(gbk) == 3 and all(r["charset"] == "gb18030" and "<html" in r["text"] for r in gbk)
    # records before the cut of the truncated and corrupt archives still land
    for name in ("crawl-truncated.warc.gz", "crawl-corrupt.warc.gz"):
        assert docs.filter(F.col("source_uri").endswith(name)).count() > 0 or name == "crawl-truncated.warc.gz"
    assert docs.filter(F.col("source_uri").endswith("crawl-corrupt.warc.gz")).count() > 20
    detail = lake.read("ops.rejects").filter("reason = 'truncated_archive'").select("detail").first()[0]
    assert "ends inside a compressed member" in detail


def test_licenses_and_provenance(sample_lake):
    lake, _, _ = sample_lake
    docs = lake.read("bronze.documents")
    lic = {r["license"] for r in docs.filter("dataset = 'sample-web'").select("license").distinct().collect()}
    assert lic == {"unknown", "CC-BY-4.0", "CC-BY-SA-4.0", "CC0-1.0"}
    # sample profile: the dumps dataset defaults to CC-BY-4.0 where a record states none
    assert docs.filter("dataset = 'sample-dumps' AND license = 'unknown'").count() == 0
    row = docs.filter("record_type = 'response'").orderBy("doc_id").first()
    assert row.http_status == 200 and row.content_type == "text/html" and row.host and row.fetch_time
    assert row.source_record.startswith("<urn:uuid:") and row.source_offset >= 0


def test_media_references_with_probed_metadata(sample_lake):
    lake, _, runs = sample_lake
    media = {r["source_record"].rsplit("/", 1)[1]: r for r in lake.read("bronze.media")
             .where("dataset IN ('sample-media', 'sample-speech')").collect()}
    assert set(media) == {"tone-440.wav", "tone-880.wav", "red.png", "gradient.jpg", "silence.wav", "speech-en.wav",
                          "speech-en-copy.mp3", "speech-zh.mp3", "speech-de.opus", "speech-fr.m4a", "speech-es.flac"}
    speech = {n: r for n, r in media.items() if r.dataset == "sample-speech"}
    assert {n: r.lang_hint for n, r in speech.items() if n != "silence.wav"} == {
        "speech-en.wav": "en", "speech-en-copy.mp3": "en", "speech-zh.mp3": "zh", "speech-de.opus": "de",
        "speech-fr.m4a": "fr", "speech-es.flac": "es"}
    assert speech["speech-de.opus"].duration_s == pytest.approx(35, abs=0.1) and speech["speech-zh.mp3"].sample_rate == 22050
    assert reasons(lake, "sample-speech") == {"corrupt_media": 1}     # garbage.mp3
    media = {n: r for n, r in media.items() if n not in speech}
    assert all(r.source_record == r.source_uri for r in media.values())      # the full URI, never a basename
    assert media["tone-440.wav"].duration_s == pytest.approx(1.0) and media["tone-880.wav"].sample_rate == 16000
    assert (media["red.png"].width, media["red.png"].height) == (64, 48) and media["red.png"].media_type == "image"
    assert media["gradient.jpg"].mime_type == "image/jpeg" and media["tone-440.wav"].content is not None
    assert all(r.license == "CC0-1.0" for r in media.values())
    assert reasons(lake, "sample-media") == {"corrupt_media": 2}  # truncated.wav, broken.png
    assert reasons(lake, "sample-images") == {"corrupt_media": 1, "image_bomb": 1}   # corrupt.jpg, bomb.png
    assert reasons(lake, "sample-videos") == {"corrupt_media": 1}    # no-index.mp4 (its MP4 index is gone)


def test_image_responses_in_a_warc_become_media_rows_and_pages_keep_their_img_refs(sample_lake):
    lake, _, _ = sample_lake
    crawled = lake.read("bronze.media").where("dataset = 'sample-web'").collect()
    assert len(crawled) == 6 and all(r.media_type == "image" and r.url.startswith("https://") for r in crawled)
    assert all(r.source_record.startswith("<urn:uuid:") and r.content and r.width > 0 for r in crawled)
    pages = lake.read("bronze.documents").where(F.col("image_refs").isNotNull()).collect()
    assert len(pages) == 4 and {ref.url for p in pages for ref in p.image_refs} <= {r.url for r in crawled}


def test_accounting_invariant_in_ops_runs(sample_lake):
    lake, _, runs = sample_lake
    run_rows = {r["run_id"]: r for r in lake.read("ops.runs").collect()}
    for ds, summary in runs.items():
        r = run_rows[summary["run_id"]]
        assert r.status == "succeeded" and r.stage == "ingest"
        assert r.rows_in == r.rows_kept + r.rows_rejected > 0
        table = "bronze.media" if ds == "sample-media" else "bronze.documents"
        rows = sum(lake.read(t).filter(F.col("ingest_run_id") == r.run_id).count()
                   for t in ("bronze.documents", "bronze.media"))     # a WARC's images are media rows
        assert rows == r.rows_kept == r.rows_written
        assert lake.read("ops.rejects").filter(F.col("run_id") == r.run_id).count() == r.rows_rejected
        assert r.config_hash and r.code_version and r.output_versions[table] >= 1
        assert r.duration_s > 0 and r.metrics["files"] > 0


def test_every_data_table_carries_filled_lineage(sample_lake, spark):
    lake, _, _ = sample_lake
    check_lineage(lake.read("bronze.documents"), "bronze.documents")
    check_lineage(lake.read("bronze.media"), "bronze.media")
    broken = lake.read("bronze.documents").limit(3).withColumn("license", F.lit(None).cast("string"))
    with pytest.raises(LineageError, match="license"):
        check_lineage(broken, "x")


def test_rerun_is_idempotent(sample_lake, spark, sample_dirs):
    lake, cfg, _ = sample_lake
    before = (lake.read("bronze.documents").count(), lake.read("ops.rejects").count())
    again = run_ingest(spark, lake, cfg, [str(sample_dirs["sample-web"])], "sample-web")
    assert again["files"] == 0 and again["rows_in"] == 0  # already-ingested files are skipped
    forced = run_ingest(spark, lake, cfg, [str(sample_dirs["sample-web"])], "sample-web", force=True)
    assert forced["rows_in"] > 0 and forced["written"] == 0
    assert (lake.read("bronze.documents").count(), lake.read("ops.rejects").count()) == before
    assert lake.read("ops.ingest_files").groupBy("file_uri").count().filter("count > 1").count() == 0


def test_run_killed_midway_resumes_to_the_same_tables(spark, sample_dirs, tmp_path, monkeypatch, sample_lake):
    """A run that dies after writing bronze but before recording its files; the rerun completes it."""
    import jobs.ingest as ingest

    ref_lake, _, _ = sample_lake
    ref_ids = {r[0] for r in ref_lake.read("bronze.documents").filter("dataset = 'sample-web'").select("doc_id").collect()}
    ref_rejects = ref_lake.read("ops.rejects").filter("dataset = 'sample-web' AND stage = 'ingest'").count()

    from jobs.common.lake import Lake
    from tests.conftest import test_config
    cfg = test_config(tmp_path / "lake")
    lake = Lake(spark, cfg["lake"]["root"])

    def die(*a, **k):
        raise KeyboardInterrupt("killed")
    monkeypatch.setattr(ingest, "file_rows", die)
    with pytest.raises(KeyboardInterrupt):
        run_ingest(spark, lake, cfg, [str(sample_dirs["sample-web"])], "sample-web")
    monkeypatch.undo()
    failed = lake.read("ops.runs").filter("status = 'failed'").collect()
    assert len(failed) == 1 and "killed" in failed[0].error
    done = run_ingest(spark, lake, cfg, [str(sample_dirs["sample-web"])], "sample-web")
    assert done["written"] == 0 and done["rows_in"] > 0  # everything was already there: nothing twice
    ids = [r[0] for r in lake.read("bronze.documents").select("doc_id").collect()]
    assert len(ids) == len(set(ids)) and set(ids) == ref_ids
    assert lake.read("ops.rejects").count() == ref_rejects


def test_bad_paths_and_config_give_clear_errors(capsys, tmp_path):
    from jobs.cli import main
    assert main(["ingest", "--dataset", "x", "--lake", str(tmp_path / "l"), str(tmp_path / "missing")]) == 2
    assert "input not found" in capsys.readouterr().err
    assert main(["ingest", "--dataset", "x", "--profile", "nope", str(tmp_path)]) == 2
    assert "unknown profile 'nope'" in capsys.readouterr().err
    assert main(["frobnicate"]) == 2
