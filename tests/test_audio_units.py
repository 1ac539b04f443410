"""The audio stage's parts without Spark: decoding, VAD segments, file checks, fingerprints,
the token layout and the codecs (generated audio, espeak-ng speech, encodec's recording)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipelines.audio import fingerprint as fpm
from pipelines.audio.analyze import AnalyzeParams, analyze
from pipelines.audio.decode import AudioError, decode
from pipelines.audio.stage import cut_segments
from pipelines.audio.vad import SegmentRule
from quality_models.speech import encode_file, speech, write_wav

RATE = 22050


@pytest.fixture(scope="module")
def en():
    return speech("en", 12, seed=3)


def bursts(rate: int = 16000, seed: int = 0):
    """Harmonic tones and noise bursts between silences (a faint noise floor): samples and
    the (start, end) seconds of each burst."""
    rng = np.random.default_rng(seed)
    parts, truth, t = [], [], 0.0
    for kind, dur, gap in [("tone", 2.0, 1.0), ("noise", 1.5, 0.8), ("tone", 3.0, 1.2), ("noise", 2.0, 1.0)]:
        n = int(dur * rate)
        tt = np.arange(n) / rate
        x = (sum(np.sin(2 * np.pi * 150 * k * tt) / k for k in range(1, 12)) * 0.2 * (1 + 0.5 * np.sin(8 * np.pi * tt))
             if kind == "tone" else rng.normal(0, 0.1, n))
        parts += [rng.normal(0, 0.001, int(gap * rate)), x]
        t += gap
        truth.append((t, t + dur))
        t += dur
    parts.append(np.zeros(rate))
    return np.concatenate(parts).astype(np.float32), truth


def test_decoding_does_not_depend_on_the_chunk_size(en, tmp_path):
    path = encode_file(tmp_path / "en.mp3", en, RATE, "mp3", 64000)
    runs = [list(decode(str(path), (24000, 16000), chunk_s=c)) for c in (0.37, 3.0, 100.0)]
    cat = [[np.concatenate([r[i] for r in chunks]) for i in (0, 1)] for chunks in runs]
    assert len(runs[0]) > 20 and len(runs[2]) == 1
    for other in cat[1:]:
        assert np.array_equal(cat[0][0], other[0]) and np.array_equal(cat[0][1], other[1])
    assert abs(cat[0][0].size / 24000 - en.size / RATE) < 0.05


def test_segments_end_within_a_vad_frame_of_the_silences(tmp_path):
    x, truth = bursts()
    path = write_wav(tmp_path / "bursts.wav", x, 16000)
    for frame_ms in (10, 30):
        _, segs = analyze(str(path), AnalyzeParams(frame_ms=frame_ms, rule=SegmentRule(target_s=0.5)))
        got = [(s["start_s"], s["end_s"]) for s in segs]
        assert len(got) == len(truth), got
        for (a, b), (ta, tb) in zip(got, truth):
            assert abs(a - ta) <= frame_ms / 1000 + 1e-9 and abs(b - tb) <= frame_ms / 1000 + 1e-9, (got, truth)
    # the same rule on the same frames: the same segments; long runs are cut to max_s
    _, one = analyze(str(path), AnalyzeParams(rule=SegmentRule(target_s=100, max_s=100, min_silence_s=1.5)))
    assert [(s["start_s"], s["end_s"]) for s in one] == [(0.99, 12.51)]
    _, cut = analyze(str(path), AnalyzeParams(rule=SegmentRule(target_s=100, max_s=4, min_silence_s=1.5)))
    assert len(cut) == 3 and all(s["duration_s"] <= 4.0 for s in cut)


def test_speech_segments_carry_their_signals(en, tmp_path):
    path = write_wav(tmp_path / "en.wav", en, RATE)
    file, segs = analyze(str(path), AnalyzeParams(silero=True))
    assert file["sample_rate"] == RATE and abs(file["duration_s"] - 12) < 0.01
    s = segs[0]
    assert 0.7 < s["speech_ratio"] <= 1 and -40 < s["level_dbfs"] < -10 and s["clipping_ratio"] == 0
    assert s["snr_db"] > 20 and s["silero_ratio"] > 0.6 and s["vad_agreement"] > 0.8
    assert len(s["fingerprint"]) == 4 * (fpm.frame_range(s["start_s"], s["end_s"])[1]
                                         - fpm.frame_range(s["start_s"], s["end_s"])[0])


def _reason(path, declared=None, **params):
    with pytest.raises(AudioError) as e:
        analyze(str(path), AnalyzeParams(**params), declared)
    return e.value.reason


def test_bad_files_get_a_reason(en, tmp_path):
    silent = write_wav(tmp_path / "silent.wav", np.zeros(3 * RATE, np.float32), RATE)
    short = write_wav(tmp_path / "short.wav", en[: RATE // 2], RATE)
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8)))
    full = encode_file(tmp_path / "full.mp3", en, RATE, "mp3", 64000).read_bytes()
    (tmp_path / "cut.mp3").write_bytes(full[: len(full) // 2])
    low = write_wav(tmp_path / "low.wav", en[::4], RATE // 4)
    square = write_wav(tmp_path / "square.wav", np.sign(np.sin(np.arange(2 * RATE) / 10)).astype(np.float32), RATE)
    hum = write_wav(tmp_path / "hum.wav", 0.003 * np.sin(2 * np.pi * 50 * np.arange(3 * RATE) / RATE).astype(np.float32),
                    RATE)
    assert _reason(silent) == "audio_silent"
    assert _reason(short) == "audio_too_short"
    assert _reason(garbage) == "audio_undecodable"
    assert _reason(tmp_path / "cut.mp3") == "audio_truncated"
    assert _reason(low, min_sample_rate=8000) == "audio_low_sample_rate"
    assert _reason(square) == "audio_clipped"
    assert _reason(hum) == "audio_no_speech"
    assert _reason(_video_only(tmp_path / "video.mp4")) == "audio_no_stream"


def _video_only(path: Path) -> Path:
    import av

    with av.open(str(path), "w") as out:
        st = out.add_stream("mpeg4", rate=6)
        st.width, st.height, st.pix_fmt = 64, 48, "yuv420p"
        for i in range(6):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 30, np.uint8), format="rgb24")
            for p in st.encode(frame):
                out.mux(p)
        for p in st.encode(None):
            out.mux(p)
    return path


def _prints(path) -> np.ndarray:
    _, segs = analyze(str(path), AnalyzeParams(rule=SegmentRule(target_s=100, max_s=100, min_silence_s=2)))
    return np.concatenate([np.frombuffer(s["fingerprint"], "<u4") for s in segs])


def _best_ber(x, y) -> float:
    return min(fpm.bit_error_rate(x, y, o, 100) for o in range(-20, 21))


def test_fingerprints_find_reencodes_and_not_other_audio(en, tmp_path):
    ref = _prints(write_wav(tmp_path / "ref.wav", en, RATE))
    copies = {"mp3 32k": encode_file(tmp_path / "c.mp3", en, RATE, "mp3", 32000),
              "opus 24k": encode_file(tmp_path / "c.opus", en, RATE, "libopus", 24000),
              "aac 48k": encode_file(tmp_path / "c.m4a", en, RATE, "aac", 48000),
              "quieter": write_wav(tmp_path / "q.wav", en * 0.3, RATE),
              "offset 37 ms": write_wav(tmp_path / "o.wav", np.concatenate([np.zeros(int(0.037 * RATE)), en]), RATE)}
    for name, path in copies.items():
        assert _best_ber(ref, _prints(path)) < 0.2, name
    other = _prints(write_wav(tmp_path / "de.wav", speech("de", 12, seed=4), RATE))
    assert _best_ber(ref, other) > 0.35
    # the LSH keys of a copy line up with the original's at one offset
    pa, ka = fpm.index_keys(ref, 4)
    pb, kb = fpm.index_keys(_prints(copies["mp3 32k"]), 4)
    common = np.intersect1d(ka, kb)
    offsets = [int(pa[ka == k][0] - pb[kb == k][0]) for k in common]
    assert len(offsets) >= 3 and max(np.bincount(np.abs(offsets))) >= 3


def test_layout_round_trips_inside_the_audio_ranges():
    from tokenize_jobs.audio import Layout, tokens_per_second
    from tokenize_jobs.vocab import build

    vocab = build()
    layout = Layout(vocab, 8, marker_s=1.0)
    codes = np.random.default_rng(0).integers(0, 1024, (8, 160))
    ids = layout.ids(codes)
    sp = vocab.specials
    assert ids[0] == sp["<|audio_start|>"] and ids[-1] == sp["<|audio_end|>"]
    assert [int(i) for i in ids if sp["<|t_0|>"] <= i <= sp["<|t_599|>"]] == [sp["<|t_0|>"], sp["<|t_1|>"], sp["<|t_2|>"]]
    assert ids.size == 2 + 3 + 8 * 160
    body = ids[np.isin(vocab.modality_of(ids), [2])]
    assert body.size == 8 * 160
    lo, hi = vocab.codebook("audio_l0")[0], vocab.codebook("audio_l7")[1]
    assert ((body >= lo) & (body < hi)).all()
    levels = [(int(vocab.codebook(f"audio_l{k}")[0])) for k in range(8)]
    assert ids[2] - levels[0] == codes[0, 0] and ids[3] - levels[1] == codes[1, 0]
    assert np.array_equal(layout.codes(ids), codes)
    assert tokens_per_second(8, 1.0) == 601.0


@pytest.fixture(scope="module")
def project_codec():
    from tokenize_jobs.audio import load_codec

    return load_codec("project", None, None, 8, "cpu")


def test_project_codec_reproduces_its_saved_score(project_codec):
    from tokenize_jobs.audio_codec import evaluate, training_audio

    report = project_codec.report
    held = training_audio(project_codec.recipe, held_out=True)
    again = evaluate(project_codec, held)
    assert again["si_snr_db"] == pytest.approx(report["held_out"]["si_snr_db"], abs=0.05)
    assert again["mel_distance"] == pytest.approx(report["held_out"]["mel_distance"], abs=0.01)
    for floor in report["held_out"]["floors"].values():
        assert again["si_snr_db"] > floor["si_snr_db"] + 3 and again["mel_distance"] < 0.7 * floor["mel_distance"]
    # the token ids of a held-out clip decode to audio of its length and its share of the score
    from tokenize_jobs.audio import Layout
    from tokenize_jobs.audio_codec import si_snr
    from tokenize_jobs.vocab import build

    layout, x = Layout(build(), 8, 1.0), held[0]
    ids = layout.ids(project_codec.encode(x, 8))
    y = project_codec.decode(layout.codes(ids))
    assert y.size == -(-x.size // 320) * 320 and y.size - x.size < 320
    assert si_snr(x, y[: x.size]) == pytest.approx(report["held_out"]["per_clip_si_snr_db"][0], abs=0.05)


def test_segment_tokens_do_not_depend_on_decode_chunks(project_codec, en, tmp_path):
    path = encode_file(tmp_path / "en.opus", en, RATE, "libopus", 32000)
    spans = [(0.5, 3.25), (4.0, 9.5)]
    runs = [[project_codec.encode(x, 8) for _, x in cut_segments(str(path), spans, 24000, c)] for c in (0.3, 2.0, 60)]
    for other in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0], other))
    assert runs[0][0].shape[1] == -(-int(2.75 * 24000) // 320)


def test_encodec_has_the_official_architecture_and_checks_its_weights(tmp_path):
    import torch

    from quality_models.models import fetch_encodec_clip
    from tokenize_jobs.audio import CodecError, EncodecCodec

    codec = EncodecCodec(None, None, 8, random_weights=True)
    assert sum(p.numel() for p in codec.model.parameters()) == pytest.approx(14.9e6, rel=0.02)
    clip = next(iter(decode(str(fetch_encodec_clip()), (24000,), chunk_s=2.0)))[0][:48000]
    codes = codec.encode(clip, 8)
    assert codes.shape == (8, 150) and codes.min() >= 0 and codes.max() < 1024
    assert codec.decode(codes).size == 48000
    parts = [clip[:30001], clip, clip[5000:20000]]                  # batched (zero-padded) = one by one
    assert all(np.array_equal(a, codec.encode(x, 8)) for a, x in zip(codec.encode_batch(parts, 8), parts))
    weights = tmp_path / "encodec_24khz.th"
    torch.save(codec.model.state_dict(), weights)
    loaded = EncodecCodec(str(weights), None, 8)
    assert np.array_equal(loaded.encode(clip, 8), codes) and loaded.version.startswith("encodec24-")
    with pytest.raises(CodecError, match="sha256"):
        EncodecCodec(str(weights), "0" * 64, 8)
    with pytest.raises(CodecError, match="not found"):
        EncodecCodec(str(tmp_path / "missing.th"), None, 8)
    with pytest.raises(CodecError, match="codebooks"):
        EncodecCodec(None, None, 6, random_weights=True)


def test_audio_config_is_checked_before_spark():
    from jobs.common.config import ConfigError, load_config

    with pytest.raises(ConfigError, match="silero"):
        load_config("sample", ["audio.rules.audio_not_speech.enabled=true"])
    assert load_config("sample", ["audio.rules.audio_not_speech.enabled=true", "audio.vad.silero=true"])
    with pytest.raises(ConfigError, match="codebooks"):
        load_config("sample", ["audio.tokenizer.codec=encodec", "audio.tokenizer.codebooks=6",
                               "audio.tokenizer.checkpoint=/x.th"])
    with pytest.raises(ConfigError, match="timestamps"):
        load_config("sample", ["audio.vad.max_s=120", "audio.tokenizer.marker_s=0.1"])
