"""The video stage's parts on videos made with PyAV: decode (timestamps, variable rate,
rotation), shots against the generator's cuts, 6 fps sampling by time, the token layout,
and the reasons broken files are refused with."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from corpora.videos import Spec, broken, draw, vfr_times, write
from pipelines.video.decode import VideoError, VideoInfo, frames
from pipelines.video.shots import ShotParams, analyze, split_long
from tokenize_jobs.video import Layout, sample, sample_times, tokens_per_second
from tokenize_jobs.vocab import build


def _shots(path: Path, **kw) -> tuple[VideoInfo, list[dict]]:
    return analyze(lambda: open(path, "rb"), ShotParams(**kw))


@pytest.mark.parametrize("spec", [
    Spec(frames=150, cuts=[40, 95], seed=1),
    Spec(frames=125, cuts=[30, 70, 100], width=480, height=270, seed=2, fps=30),
    Spec(frames=90, cuts=[17, 60], width=320, height=240, seed=6, fps=24, speech_lang=None),
])
def test_shot_boundaries_are_within_one_frame_of_the_cuts(tmp_path, spec):
    path = write(tmp_path / "v.mp4", spec)
    info, shots = _shots(path)
    want = [c / spec.fps for c in spec.cuts]
    got = [s["start_s"] for s in shots[1:]]
    assert len(got) == len(want)
    assert all(abs(g - w) <= 1.0 / spec.fps + 1e-6 for g, w in zip(got, want)), (got, want)
    assert shots[0]["start_s"] == 0.0 and shots[-1]["end_s"] == pytest.approx(spec.frames / spec.fps, abs=1e-3)
    assert all(a["end_s"] == b["start_s"] for a, b in zip(shots, shots[1:]))
    s = shots[0]
    assert s["width"] == spec.width and s["height"] == spec.height and s["motion"] > 0.1
    assert len(s["fingerprint"]) == 16 and s["black_share"] == 0.0
    assert s["has_audio"] == 1.0 and s["speech_ratio"] > 0.5


def test_a_shot_without_cuts_over_the_maximum_is_split_evenly(tmp_path):
    path = write(tmp_path / "long.mp4", Spec(frames=100, cuts=[], width=320, height=180, audio=False))
    _, shots = _shots(path, max_shot_s=1.5)
    assert [s["end_s"] - s["start_s"] for s in shots] == pytest.approx([4 / 3] * 3, abs=0.05)
    assert all(s["has_audio"] == 0.0 for s in shots)
    assert split_long([0, 10], np.arange(10) * 0.1, 1.0, 10.0) == [0, 10]


def test_variable_frame_rate_keeps_real_time_and_samples_6_fps_by_timestamp(tmp_path):
    times = vfr_times(60)
    path = write(tmp_path / "vfr.mkv", Spec(frames=60, cuts=[20, 40], width=320, height=180, times=times))
    info = VideoInfo()
    got = [t for t, _ in frames(str(path), info, width=64)]
    assert got == pytest.approx(times, abs=1.5e-3)          # Matroska keeps milliseconds
    _, shots = _shots(path)
    assert [s["start_s"] for s in shots] == pytest.approx([0.0, times[20], times[40]], abs=2e-3)
    assert [round(s["fps"]) for s in shots] == [30, 12, 24]
    for s in shots:
        targets = sample_times(s["start_s"], s["end_s"], 6.0)
        assert len(targets) == int(np.ceil((s["end_s"] - s["start_s"]) * 6 - 1e-6))
        picked = [f for _, f in sample(((t, t) for t in got), targets)]
        # the frame displayed at each target: the last one at or before it
        assert picked == [max(t for t in got if t <= x + 1e-4) for x in targets]


def test_sample_takes_the_displayed_frame_and_repeats_a_slow_one():
    frames_ = [(0.0, "a"), (0.5, "b"), (1.0, "c")]          # 2 fps source, sampled at 6
    assert [f for _, f in sample(frames_, sample_times(0.0, 1.5, 6.0))] == list("aaabbbccc")
    assert sample_times(1.0, 1.0, 6.0) == [] and len(sample_times(0.0, 0.01, 6.0)) == 1


def test_rotation_metadata_turns_the_frames_as_a_player_shows_them(tmp_path):
    spec = Spec(frames=10, cuts=[], width=320, height=180, audio=False)
    path = write(tmp_path / "phone.mp4", spec, rotation=-90, crf=10)
    info = VideoInfo()
    first = next(iter(frames(str(path), info, fmt="rgb24")))[1]
    assert info.rotation == -90 and (info.width, info.height) == (180, 320) and first.shape == (320, 180, 3)
    want = np.rot90(draw(spec, 0), -1)                  # counter-clockwise by the angle: -90 = clockwise
    assert np.abs(first.astype(int) - want).mean() < 6


def test_broken_files_are_refused_with_their_reasons(tmp_path):
    for name, reason in broken(tmp_path).items():
        if reason == "corrupt_media":                  # ingest's (the MP4 index is gone)
            continue
        with pytest.raises(VideoError) as e:
            _shots(tmp_path / name)
        assert e.value.reason == reason, (name, str(e.value))


def test_the_layout_holds_256_codes_per_frame_in_the_video_range_between_markers():
    vocab = build()
    lay = Layout(vocab, slice_frames=6)
    codes = np.random.default_rng(0).integers(0, 16384, (14, 16, 16))
    ids = lay.ids(codes)
    lo, hi = vocab.codebook("video")
    assert ((ids >= lo) & (ids < hi)).sum() == 14 * 256
    sp = vocab.specials
    assert ids[0] == sp["<|video_start|>"] and ids[-1] == sp["<|video_end|>"]
    assert (ids == sp["<|frame|>"]).sum() == 14 and ids.size == 2 + 3 + 14 * 257
    assert [ids[a] for a, _ in lay.slices(ids)] == [sp["<|t_0|>"], sp["<|t_1|>"], sp["<|t_2|>"]]
    assert [(b - a - 1) // 257 for a, b in lay.slices(ids)] == [6, 6, 2]
    assert (lay.codes(ids, 16) == codes).all()
    assert tokens_per_second(6, 256, 6) == 6 * 257 + 1
    with pytest.raises(ValueError):
        lay.ids(np.full((1, 16, 16), 16384))


def test_the_small_detection_frame_matches_the_scaler_and_turns_with_the_video(tmp_path):
    import cv2

    from pipelines.video.decode import small_bgr, to_array

    spec = Spec(frames=4, cuts=[], width=640, height=360, audio=False)
    for rotation, tall in ((None, False), (-90, True)):
        path = write(tmp_path / f"r{rotation}.mp4", spec, rotation=rotation, crf=10)
        info = VideoInfo()
        _, frame = next(iter(frames(str(path), info, fmt=None)))
        fast, slow = small_bgr(frame, info, 160), to_array(frame, info, 160, "bgr24")
        assert (fast.shape[0] > fast.shape[1]) is tall and 0.6 < fast.shape[1] / 160 < 1.5    # about 160 wide
        assert abs(fast.shape[0] / fast.shape[1] - slow.shape[0] / slow.shape[1]) < 0.05
        same = cv2.resize(fast, slow.shape[1::-1], interpolation=cv2.INTER_AREA)
        assert np.abs(same.astype(int) - slow).mean() < 6        # the same picture and colours
