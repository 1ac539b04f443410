"""lakehouse audio through Spark: files -> segments -> near-duplicates -> tokens, with every
file and segment accounted for, an idempotent rerun and a killed run resumed."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from jobs.audio import run_audio
from jobs.common.lake import Lake
from jobs.common.media import rows_of
from jobs.ingest import run_ingest
from quality_models.speech import encode_file, speech, write_wav
from tests import conftest
from tests.conftest import TEST_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
RATE = 22050
TABLES = ("bronze.media", "silver.media_segments", "gold.tokens", "ops.rejects")


def write_inputs(folder: Path) -> Path:
    """Speech in three languages (two codecs), an MP3 re-encode of one, encodec's music
    recording, and broken files; the manifest states license and language."""
    from quality_models.models import fetch_encodec_clip

    folder.mkdir(parents=True, exist_ok=True)
    en, de, zh = speech("en", 24, seed=11), speech("de", 18, seed=12), speech("zh", 18, seed=13)
    write_wav(folder / "en.wav", en, RATE)
    encode_file(folder / "en-copy.mp3", en * 0.8, RATE, "mp3", 48000)     # re-encoded and quieter
    encode_file(folder / "de.opus", de, RATE, "libopus", 32000)
    encode_file(folder / "zh.m4a", zh, RATE, "aac", 64000)
    full = encode_file(folder / "tmp.flac", de, RATE, "flac").read_bytes()
    (folder / "de-cut.flac").write_bytes(full[: len(full) // 2])           # truncated
    (folder / "tmp.flac").unlink()
    (folder / "empty.wav").write_bytes(b"")
    write_wav(folder / "silence.wav", np.zeros(2 * RATE, np.float32), RATE)
    (folder / "garbage.ogg").write_bytes(bytes(np.random.default_rng(3).integers(0, 256, 3000, dtype=np.uint8)))
    music = folder / "music.wav"
    music.write_bytes(fetch_encodec_clip().read_bytes())
    langs = {"en.wav": "en", "en-copy.mp3": "en", "de.opus": "de", "zh.m4a": "zh", "de-cut.flac": "de"}
    names = [*langs, "empty.wav", "silence.wav", "garbage.ogg", "music.wav"]
    with open(folder / "manifest.jsonl", "w") as fh:
        for n in names:
            fh.write(json.dumps({"path": n, "license": "CC-BY-4.0", **({"lang": langs[n]} if n in langs else {})}) + "\n")
    return folder / "manifest.jsonl"


def ingest(spark, lake, cfg, manifest):
    return run_ingest(spark, lake, cfg, [], "talks", manifest=str(manifest))


@pytest.fixture(scope="module")
def audio_lake(spark, tmp_path_factory):
    manifest = write_inputs(tmp_path_factory.mktemp("talks"))
    cfg = conftest.test_config(tmp_path_factory.mktemp("audio-lake"))
    lake = Lake(spark, cfg["lake"]["root"])
    ing = ingest(spark, lake, cfg, manifest)
    first = run_audio(spark, lake, cfg)
    snapshot = {t: lake.fingerprint(t) for t in TABLES}
    second = run_audio(spark, lake, cfg)
    return {"lake": lake, "cfg": cfg, "manifest": manifest, "ingest": ing, "first": first, "second": second,
            "snapshot": snapshot}


def rejects(lake) -> dict[str, str]:
    rows = lake.read("ops.rejects").where(F.col("source_record") == F.col("source_uri")).collect()
    return {r["source_uri"].rsplit("/", 1)[-1]: r["reason"] for r in rows}


@pytest.fixture
def audio(audio_lake):
    audio_lake["lake"].activate()
    return audio_lake


def test_every_file_is_segmented_or_rejected_with_a_reason(audio):
    lake, first = audio["lake"], audio["first"]
    assert rejects(lake) == {"empty.wav": "corrupt_media", "garbage.ogg": "corrupt_media",      # at ingest
                             "de-cut.flac": "audio_truncated", "silence.wav": "audio_silent"}  # here
    assert first["files_in"] == 7 and first["files_segmented"] == 5 and first["files_rejected"] == 2
    run = lake.read("ops.runs").where(F.col("run_id") == first["run_id"]).first()
    assert run["status"] == "succeeded" and run["rows_in"] == run["rows_kept"] + run["rows_rejected"] == 7
    seg = lake.read("silver.media_segments")
    assert seg.count() == first["segments"] and first["segments"] >= 6
    # every rejected segment has its reject row, under its own media-fragment record
    rej_seg = lake.read("ops.rejects").where(F.col("source_record").contains("#t="))
    assert rej_seg.where("reason != 'audio_near_duplicate'").count() == seg.where("decision = 'rejected'").count()


def test_segments_carry_lineage_signals_and_language(audio):
    lake = audio["lake"]
    seg = lake.read("silver.media_segments").alias("s")
    files = lake.read("bronze.media").select(F.col("doc_id").alias("file_id"), F.col("source_uri").alias("file_uri"))
    rows = seg.join(files, F.col("parent_ids")[0] == F.col("file_id")).collect()
    assert len(rows) == seg.count()                                   # every segment points at its file
    for r in rows:
        assert r["source_uri"] == r["file_uri"] and r["source_record"].startswith(r["file_uri"] + "#t=")
        assert 0 <= r["start_s"] < r["end_s"] <= 30.5 and r["end_s"] - r["start_s"] <= 30.0 + 1e-6
        assert set(r["signals"]) >= {"duration_s", "speech_ratio", "level_dbfs", "clipping_ratio", "snr_db"}
        assert r["fingerprint"] and r["stage"] == "audio"
    langs = {r["source_uri"].rsplit("/", 1)[-1]: r["lang"] for r in rows}
    assert langs["en.wav"] == "en" and langs["zh.m4a"] == "zh" and langs["music.wav"] is None
    assert {r["decision"] for r in rows} <= {"kept", "rejected"}


def test_the_reencode_is_a_near_duplicate_and_other_audio_is_not(audio):
    lake = audio["lake"]
    seg = lake.read("silver.media_segments").where("decision = 'kept'").collect()
    name = {r["doc_id"]: r["source_uri"].rsplit("/", 1)[-1] for r in seg}
    dups = sorted((name[r["doc_id"]], name[r["dup_ref"]]) for r in seg if r["dup_keep"] is False)
    kept_by_file = {}
    for r in seg:
        kept_by_file.setdefault(name[r["doc_id"]], set()).add(r["dup_keep"])
    # both segments of the re-encode (or of the original) matched their twin; nothing else did
    assert len(dups) == 2 and {frozenset(d) for d in dups} == {frozenset({"en.wav", "en-copy.mp3"})}
    assert kept_by_file["de.opus"] == kept_by_file["zh.m4a"] == {True}
    near = lake.read("ops.rejects").where("reason = 'audio_near_duplicate'").collect()
    assert len(near) == len(dups) and all(r["ref_doc_id"] in name for r in near)
    assert all(r["dup_ber"] < 0.25 for r in seg if r["dup_keep"] is False)


def test_kept_segments_become_audio_tokens_with_time_ranges(audio):
    from tokenize_jobs.vocab import load

    lake, first = audio["lake"], audio["first"]
    vocab = load(str(Path(lake.root.removeprefix("file:")) / "gold" / "_vocab" / f"{first['vocab_version']}.json"))
    keep = lake.read("silver.media_segments").where("dup_keep").select("doc_id", "start_s", "end_s")
    tokens = lake.read("gold.tokens").where("modality = 'audio'")
    assert tokens.count() == keep.count() == first["token_rows"]
    sp = vocab.specials
    for r in tokens.join(keep.withColumnRenamed("start_s", "s0").withColumnRenamed("end_s", "s1"), "doc_id").collect():
        ids = np.array(r["tokens"])
        assert ids[0] == sp["<|audio_start|>"] and ids[-1] == sp["<|audio_end|>"]
        body = ids[1:-1]
        audio = vocab.modality_of(body) == 2
        frames = -(-round((r["end_s"] - r["start_s"]) * 24000) // 320)
        assert audio.sum() == 8 * frames and (~audio).sum() == -(-frames // 75)   # one marker per second
        assert r["start_s"] == r["s0"] and r["tokenizer"].startswith("project-audio-") and r["tokenizer"].endswith("x8")
        assert r["n_tokens"] == ids.size and r["parent_ids"]
    counts = lake.read("gold.token_counts").where(F.col("run_id") == first["run_id"]).collect()
    assert sum(c["tokens"] for c in counts) == first["new_tokens"] > 0
    assert {c["lang"] for c in counts} >= {"en", "de", "zh"} and all(c["seconds"] > 0 for c in counts)
    assert sum(c["seconds"] for c in counts) == pytest.approx(first["hours"] * 3600, abs=1)
    m = lake.read("ops.runs").where(F.col("run_id") == first["run_id"]).first()["metrics"]   # and in the run row
    assert sum(v for k, v in m.items() if k.startswith("tokens.lang.")) == first["new_tokens"]
    assert m["hours.lang.zh"] > 0 and m["hours.dataset.talks"] == pytest.approx(first["hours"], abs=1e-3)


def test_lineage_of_an_audio_token_row_reaches_the_file_and_its_seconds(audio):
    from pipelines.lineage import doc_story

    lake = audio["lake"]
    row = lake.read("gold.tokens").where("modality = 'audio'").orderBy("doc_id").first()
    story = doc_story(lake, row["doc_id"])
    assert story["status"] == "tokenized" and story["tokens"][0]["tokenizer"] == row["tokenizer"]
    seg, media = story["segment"][0], story["media"][0]
    assert seg["file_id"] == media["doc_id"] == row["parent_ids"][0] and seg["start_s"] == row["start_s"]
    assert seg["source_record"] == f"{media['source_uri']}#t={row['start_s']:.3f},{row['end_s']:.3f}"
    assert {r["stage"] for r in story["runs"]} == {"ingest", "audio"}


def test_a_rerun_changes_nothing(audio):
    lake, second = audio["lake"], audio["second"]
    assert second["files_in"] == 0 and second["compared"] == 0 and second["segments_to_tokenize"] == 0
    assert {t: lake.fingerprint(t) for t in TABLES} == audio["snapshot"]


def test_media_bytes_are_fetched_by_a_broadcast_of_the_ids_up_to_the_limit(audio):
    """rows_of ships the ids to the bronze.media scan (no shuffle of the bytes) up to the stage's
    broadcast_ids; above, a shuffle join, with the same rows."""
    lake = audio["lake"]
    spark = lake.spark
    ids = lake.read("bronze.media").select("doc_id").localCheckpoint()
    n = ids.count()
    key = "spark.sql.autoBroadcastJoinThreshold"
    before = spark.conf.get(key)
    spark.conf.set(key, "-1")      # only the limit decides
    try:
        plans, rows = {}, {}
        for limit in (n, n - 1):
            df = rows_of(lake, ids, n, ["doc_id", "content_sha256"], limit)
            rows[limit] = sorted(df.collect())
            plans[limit] = df._jdf.queryExecution().executedPlan().toString()
    finally:
        spark.conf.set(key, before)
    assert "BroadcastHashJoin" in plans[n] and "SortMergeJoin" not in plans[n]
    assert "BroadcastHashJoin" not in plans[n - 1]
    assert len(rows[n]) == n == audio["ingest"]["kept"] and rows[n] == rows[n - 1]


def test_a_killed_run_resumes_to_the_same_tables(audio, lake_at, tmp_path):
    """`lakehouse audio` killed (SIGKILL) once its segments are written; the next run finishes."""
    lake, cfg = lake_at(tmp_path / "lake")
    ingest(lake.spark, lake, cfg, audio["manifest"])
    cmd = [sys.executable, "-m", "jobs.cli", "audio", "--profile", "sample", "--lake", str(tmp_path / "lake")]
    cmd += [a for o in TEST_OVERRIDES for a in ("--set", o)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "lake" / "silver" / "media_segments" / "_delta_log"
    t0 = time.monotonic()
    while not (log / f"{1:020d}.json").exists() and proc.poll() is None:     # the segments' MERGE committed
        assert time.monotonic() - t0 < 300
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lake.activate()
    assert lake.read("ops.runs").where("stage = 'audio' AND status = 'running'").count() == 1
    assert not lake.exists("gold.tokens") or lake.read("gold.tokens").count() < audio["first"]["token_rows"]
    # resumed with shuffle joins to bronze.media: the same tables as the broadcast ones
    done = run_audio(lake.spark, lake, {**cfg, "audio": {**cfg["audio"], "broadcast_ids": 0}})
    # the segmented files are not redone; the two rejected ones are, unless their rejects landed before the kill
    assert done["files_segmented"] == 0 and done["files_in"] == done["files_rejected"] <= 2
    assert {t: lake.fingerprint(t) for t in TABLES} == audio["snapshot"]
