"""lakehouse video through Spark: videos -> shots -> near-duplicate videos -> frame and audio
tokens on one timeline, with every video and shot accounted for, an idempotent rerun and a
killed run resumed."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from corpora.videos import broken, sample_specs, write_video_folder
from jobs.common.lake import Lake
from jobs.ingest import run_ingest
from jobs.video import run_video
from tests import conftest
from tests.conftest import TEST_OVERRIDES
from tokenize_jobs.video import sample_times

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("bronze.media", "silver.media_segments", "gold.tokens", "ops.rejects")


def ingest(spark, lake, cfg, manifest):
    return run_ingest(spark, lake, cfg, [], "clips", manifest=str(manifest))


@pytest.fixture(scope="module")
def video_lake(spark, tmp_path_factory):
    folder = tmp_path_factory.mktemp("clips")
    write_video_folder(folder, dataset="clips")
    manifest = folder / "manifest.jsonl"
    cfg = conftest.test_config(tmp_path_factory.mktemp("video-lake"))
    lake = Lake(spark, cfg["lake"]["root"])
    ing = ingest(spark, lake, cfg, manifest)
    first = run_video(spark, lake, cfg)
    snapshot = {t: lake.fingerprint(t) for t in TABLES}
    second = run_video(spark, lake, cfg)
    return {"lake": lake, "cfg": cfg, "manifest": manifest, "ingest": ing, "first": first, "second": second,
            "snapshot": snapshot, "folder": folder}


@pytest.fixture
def videos(video_lake):
    video_lake["lake"].activate()
    return video_lake


def name_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def shots(lake) -> list:
    return lake.read("silver.media_segments").where("media_type = 'video'").collect()


def test_every_video_is_cut_into_shots_or_rejected_with_a_reason(videos, tmp_path):
    lake, first = videos["lake"], videos["first"]
    file_rejects = {name_of(r["source_uri"]): r["reason"] for r in lake.read("ops.rejects")
                    .where((F.col("source_record") == F.col("source_uri")) & (F.col("reason") != "video_near_duplicate"))
                    .collect()}
    assert file_rejects == broken(tmp_path / "again")      # ingest's corrupt_media and the stage's reasons
    good = 1 + len(sample_specs())                          # the sample videos and the 240p copy
    assert first["videos_in"] == good + len(file_rejects) - 1 and first["videos_cut"] == good
    assert first["videos_rejected"] == len(file_rejects) - 1
    run = lake.read("ops.runs").where(F.col("run_id") == first["run_id"]).first()
    assert run["status"] == "succeeded" and run["rows_in"] == run["rows_kept"] + run["rows_rejected"]
    rows = shots(lake)
    assert len(rows) == first["shots"]
    assert {name_of(r["source_uri"]) for r in rows} == {n for n, _, _ in sample_specs()} | {"lecture-240p.mp4"}
    rejected = [r for r in rows if r["decision"] == "rejected"]
    assert lake.read("ops.rejects").where(F.col("source_record").contains("#t=")).count() == len(rejected)


def test_shots_follow_the_cuts_and_carry_lineage_and_signals(videos):
    lake = videos["lake"]
    media = {r["doc_id"]: r for r in lake.read("bronze.media").collect()}
    by_video: dict[str, list] = {}
    for r in shots(lake):
        v = media[r["parent_ids"][0]]
        assert r["source_uri"] == v["source_uri"]
        assert r["source_record"] == f"{v['source_uri']}#t={r['start_s']:.3f},{r['end_s']:.3f}"
        assert set(r["signals"]) >= {"motion", "static_share", "black_share", "fps", "speech_ratio", "has_audio"}
        assert len(r["fingerprint"]) == 16 and r["stage"] == "video"
        by_video.setdefault(name_of(v["source_uri"]), []).append(r)
    for name, spec, _ in sample_specs():
        got = sorted(by_video[name], key=lambda r: r["start_s"])
        cuts = [r["start_s"] for r in got[1:]]
        want = [spec.times[c] if spec.times else c / spec.fps for c in spec.cuts]
        assert cuts == pytest.approx(want, abs=1.0 / spec.fps), name
        assert {r["lang"] for r in got} == {spec.speech_lang}
    portrait = by_video["portrait.mp4"][0]["signals"]
    assert (portrait["width"], portrait["height"]) == (180, 320)          # rotation applied


def test_the_reencoded_copy_is_a_near_duplicate_video(videos):
    lake, first = videos["lake"], videos["first"]
    media = {r["doc_id"]: name_of(r["source_uri"]) for r in lake.read("bronze.media").collect()}
    near = lake.read("ops.rejects").where("reason = 'video_near_duplicate'").collect()
    assert [(media[r["doc_id"]], media[r["ref_doc_id"]]) for r in near] == [("lecture-240p.mp4", "lecture.mp4")]
    assert first["near_duplicate_videos"] == 1
    for r in shots(lake):
        copy = media[r["parent_ids"][0]] == "lecture-240p.mp4"
        assert r["dup_keep"] is (not copy)
        assert (r["dup_ref"] is not None) is copy


def test_kept_shots_become_video_tokens_with_their_audio_on_the_same_timeline(videos):
    from tokenize_jobs.audio import Layout as AudioLayout
    from tokenize_jobs.video import Layout
    from tokenize_jobs.vocab import load

    lake, first, cfg = videos["lake"], videos["first"], videos["cfg"]
    vocab = load(str(Path(lake.root.removeprefix("file:")) / "gold" / "_vocab" / f"{first['vocab_version']}.json"))
    keep = {r["doc_id"]: r for r in shots(lake) if r["dup_keep"]}
    gold = lake.read("gold.tokens").where(F.col("stage") == "video").collect()
    video = {r["doc_id"]: r for r in gold if r["modality"] == "video"}
    audio = {r["doc_id"]: r for r in gold if r["modality"] == "audio"}
    assert set(video) == set(keep) and len(gold) == first["token_rows"]
    lay, alay = Layout(vocab, 6), AudioLayout(vocab, 8, 1.0)
    lo, hi = vocab.codebook("video")
    for doc_id, r in video.items():
        s = keep[doc_id]
        ids = np.array(r["tokens"])
        n_frames = len(sample_times(s["start_s"], s["end_s"], 6.0))
        assert ((ids >= lo) & (ids < hi)).sum() == n_frames * 256 == lay.codes(ids, 16).size
        assert (r["start_s"], r["end_s"]) == (s["start_s"], s["end_s"]) and r["parent_ids"] == s["parent_ids"]
        a = audio[r["pair_doc_id"]]                           # every sample video has a sound track
        assert a["pair_doc_id"] == doc_id and (a["start_s"], a["end_s"]) == (r["start_s"], r["end_s"])
        assert a["parent_ids"] == s["parent_ids"] and a["source_record"] == s["source_record"]
        aids = np.array(a["tokens"])
        assert len(alay.markers[np.isin(alay.markers, aids)]) == len(lay.slices(ids))   # one slice per second each
        frames = -(-round((r["end_s"] - r["start_s"]) * 24000) // 320)
        assert (vocab.modality_of(aids) == 2).sum() == 8 * frames
    assert len(audio) == len(video)
    counts = lake.read("gold.token_counts").where(F.col("run_id") == first["run_id"]).collect()
    assert sum(c["tokens"] for c in counts) == first["new_tokens"]
    secs = sum(c["seconds"] for c in counts if c["modality"] == "video")
    assert secs == pytest.approx(sum(s["end_s"] - s["start_s"] for s in keep.values()), abs=1e-3)
    m = lake.read("ops.runs").where(F.col("run_id") == first["run_id"]).first()["metrics"]
    assert m["video_tokens_per_second"] == pytest.approx(6 * 257 + 1, rel=0.08)
    assert m["hours.video.dataset.clips"] == pytest.approx(secs / 3600, abs=1e-6)
    assert m["tokens.audio.lang.zh"] > 0 and cfg["video"]["tokens"]["fps"] == 6.0


def test_lineage_of_a_video_token_row_reaches_the_video(videos):
    from pipelines.lineage import doc_story

    lake = videos["lake"]
    row = lake.read("gold.tokens").where("modality = 'video'").orderBy("doc_id").first()
    story = doc_story(lake, row["doc_id"])
    assert story["status"] == "tokenized" and story["media"][0]["doc_id"] == row["parent_ids"][0]
    assert {r["stage"] for r in story["runs"]} == {"ingest", "video"}


def test_a_rerun_changes_nothing(videos):
    lake, second = videos["lake"], videos["second"]
    assert second["videos_in"] == 0 and second["videos_compared"] == 0 and second["shots_to_tokenize"] == 0
    assert {t: lake.fingerprint(t) for t in TABLES} == videos["snapshot"]


def test_a_killed_run_resumes_to_the_same_tables(videos, lake_at, tmp_path):
    """`lakehouse video` killed (SIGKILL) once its shots are written; the next run finishes."""
    lake, cfg = lake_at(tmp_path / "lake")
    ingest(lake.spark, lake, cfg, videos["manifest"])
    cmd = [sys.executable, "-m", "jobs.cli", "video", "--profile", "sample", "--lake", str(tmp_path / "lake")]
    cmd += [a for o in TEST_OVERRIDES for a in ("--set", o)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "lake" / "silver" / "media_segments" / "_delta_log"
    t0 = time.monotonic()
    while not (log / f"{1:020d}.json").exists() and proc.poll() is None:     # the shots' MERGE committed
        assert time.monotonic() - t0 < 300
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lake.activate()
    assert lake.read("ops.runs").where("stage = 'video' AND status = 'running'").count() == 1
    assert not lake.exists("gold.tokens") or lake.read("gold.tokens").count() < videos["first"]["token_rows"]
    # resumed with shuffle joins to bronze.media: the same tables as the broadcast ones
    done = run_video(lake.spark, lake, {**cfg, "video": {**cfg["video"], "broadcast_ids": 0}})
    assert done["videos_cut"] == 0 and done["videos_in"] == done["videos_rejected"]
    assert {t: lake.fingerprint(t) for t in TABLES} == videos["snapshot"]
