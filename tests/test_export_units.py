"""Training documents and their packing without Spark: video time-slice groups, image-text
pairs, cutting at slice boundaries with <|cont|>, and the mixer's shortfall rules."""
from __future__ import annotations

import numpy as np
import pytest

from jobs.common.config import load_config
from tokenize_jobs import audio as audio_tok
from tokenize_jobs import mixing
from tokenize_jobs import video as video_tok
from tokenize_jobs.documents import Builder, DocumentError
from tokenize_jobs.pack import PackError, pack, pieces
from tokenize_jobs.vocab import build


@pytest.fixture(scope="module")
def vocab():
    return build()


def shot(vocab, seconds: float, slice_frames=2, fps=6.0, audio=True, seed=0):
    """A video row and its audio row as the video stage lays them out (tokenize_jobs/video.py,
    tokenize_jobs/audio.py), from random codes."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * fps))
    v = video_tok.Layout(vocab, slice_frames).ids(rng.integers(0, 16384, (n, 16, 16)))
    if not audio:
        return v, None
    a = audio_tok.Layout(vocab, 8, slice_frames / fps).ids(rng.integers(0, 1024, (8, int(seconds * 75))))
    return v, a


def test_video_document_interleaves_each_slice_with_its_audio(vocab):
    sp = vocab.specials
    v, a = shot(vocab, 2.0)
    doc, cuts = Builder(vocab, 256).video(v, a)
    vl, al = video_tok.Layout(vocab, 2), audio_tok.Layout(vocab, 8, 1 / 3)
    assert doc[0] == sp["<|video_start|>"] and doc[-1] == sp["<|video_end|>"]
    # 6 slices: markers shared, the audio row's start/end replaced by one pair per slice
    assert doc.size == v.size + a.size - 6 - 2 + 2 * 6
    marks = [i for i, x in enumerate(doc) if x in set(vl.markers.tolist())]
    assert [doc[i] for i in marks] == [sp[f"<|t_{k}|>"] for k in range(6)] and cuts == marks[1:]
    mod = vocab.modality_of(doc)
    for s, e in zip(marks, [*marks[1:], doc.size - 1]):
        group = doc[s:e]
        # a slice: its marker, 2 frames (<|frame|> + 256 codes each), then 25 audio frames x 8 levels
        assert group.size == 1 + 2 * 257 + 2 + 25 * 8
        assert (mod[s + 1:s + 1 + 2 * 257] != 2).all() and (mod[s + 1 + 2 * 257 + 1:e - 1] == 2).all()
        assert group[1 + 2 * 257] == sp["<|audio_start|>"] and group[-1] == sp["<|audio_end|>"]
    # the frames and the audio codes read back from the document, unchanged
    body = [x for x in doc if x not in (sp["<|audio_start|>"], sp["<|audio_end|>"])]
    frames = np.array([x for x, m in zip(body, vocab.modality_of(body)) if m != 2])
    assert np.array_equal(vl.codes(frames, 16), vl.codes(v, 16))
    sound = np.array([sp["<|audio_start|>"], sp["<|t_0|>"], *[x for x in doc if vocab.modality_of([x])[0] == 2],
                      sp["<|audio_end|>"]])
    assert np.array_equal(al.codes(sound), al.codes(a))
    # a shot without an audio track is frames only; a malformed row is refused
    silent, _ = Builder(vocab, 256).video(v, None)
    assert np.array_equal(silent, v)
    with pytest.raises(DocumentError):
        Builder(vocab, 256).video(v[1:], a)


def test_image_pairs_put_the_caption_first_or_last(vocab):
    img = np.concatenate([[vocab.specials["<|image_start|>"]], np.arange(256) + vocab.codebook("image")[0],
                          [vocab.specials["<|image_end|>"]]]).astype(np.int32)
    b = Builder(vocab, 8)
    first, cuts = b.image(img, "A red bicycle leaning on a wall in Amsterdam at dusk", True)
    last, _ = b.image(img, "A red bicycle leaning on a wall in Amsterdam at dusk", False)
    assert cuts == [] and first.size == last.size == 258 + 8          # the caption cut to max_caption_tokens
    assert np.array_equal(first[8:], img) and np.array_equal(last[:258], img)
    assert b.text_ids("A red bicycle").tolist() == first[:3].tolist()
    assert np.array_equal(b.image(img, None, True)[0], img)


def test_long_media_is_cut_at_slice_boundaries_with_continuation_markers(vocab):
    sp = vocab.specials
    eod, pad, cont = vocab.eod, vocab.pad, sp["<|cont|>"]
    v, a = shot(vocab, 5.0)                       # 15 slices of 717 tokens
    doc, cuts = Builder(vocab, 256).video(v, a)
    parts = pieces(doc, cuts, 2048, eod, cont)
    assert len(parts) > 1 and all(p.size <= 2048 and p[-1] == eod for p in parts)
    for k, p in enumerate(parts):
        assert p[0] == sp["<|video_start|>"] and p[-2] == sp["<|video_end|>"]
        assert (p[1] == cont) == (k > 0) and (p[-3] == cont) == (k < len(parts) - 1)
        assert p[1 + (k > 0)] in set(video_tok.Layout(vocab, 2).markers.tolist())   # begins with a slice
    inner = np.concatenate([p[1 + (k > 0):-2 - (k < len(parts) - 1)] for k, p in enumerate(parts)])
    assert np.array_equal(inner, doc[1:-1])        # nothing lost, nothing doubled
    with pytest.raises(PackError, match="time slice"):
        pieces(doc, cuts, 600, eod, cont)
    # packing: fitting documents whole, pieces marked k of n, the rest of a sequence padded
    rng = np.random.default_rng(1)
    texts = [(f"t{i}", 0, rng.integers(10, 1000, int(rng.integers(5, 900))).astype(np.int32), None) for i in range(12)]
    docs = [("video", 0, doc, cuts), *texts, ("img", 0, np.arange(300, dtype=np.int32), [])]
    seqs = list(pack(docs, 2048, eod, pad, 4, cont))
    spans = [(s_, sp_) for s_ in seqs for sp_ in s_.spans]
    got = {}
    for s_, (doc_id, _c, start, length, piece, n) in spans:
        got.setdefault(doc_id, []).append((piece, n, s_.tokens[start:start + length]))
    assert sorted(p for p, _, _ in got["video"]) == list(range(len(parts)))
    for piece, _n, toks in got["video"]:
        assert np.array_equal(toks, parts[piece])
    assert len(got["img"]) == 1 and all(len(got[f"t{i}"]) == 1 for i in range(12))
    with pytest.raises(PackError, match="may not be cut"):
        list(pack([("big", 0, np.arange(3000, dtype=np.int32), [])], 2048, eod, pad, 4, cont))


def pool(layout: dict) -> list[dict]:
    return [{"modality": m, "dataset": ds, "quality_tier": t, "tokens": n}
            for m, d in layout.items() for ds, tiers in d.items() for t, n in tiers.items()]


def test_shortfall_repeats_up_to_max_epochs_or_fails_with_the_tokens_missing():
    p = load_config("sample", ["mixing.phase=C", "mixing.budget_tokens=null"])["mixing"]
    layout = {"text": {"web": {"high": 900_000, "low": 300_000}}, "audio": {"speech": {"none": 50_000}},
              "video": {"clips": {"none": 40_000}}, "image": {"pairs": {"none": 30_000}}}
    # no budget: the largest the pool supplies without repeating (audio, at 20%, runs out first)
    pl = mixing.plan(pool(layout), p)
    assert pl.budget == pytest.approx(50_000 / 0.20) and max(g["rate"] for g in pl.groups) == pytest.approx(1.0)
    # a budget above it repeats the short groups, within max_epochs
    pl = mixing.plan(pool(layout), {**p, "budget_tokens": 1e6})
    assert {pl.key(g): round(g["rate"], 3) for g in pl.groups if g["rate"] > 1} == {
        "audio/speech/none": 4.0, "video/clips/none": 3.75, "image/pairs/none": 1.667}
    with pytest.raises(mixing.MixingError, match=r"audio/speech/none needs 200,000 tokens, has 50,000 x 1 epochs "
                                                 r"\(missing 150,000\)"):
        mixing.plan(pool(layout), {**p, "budget_tokens": 1e6, "shortfall": "fail"})
    with pytest.raises(mixing.MixingError, match="max_epochs=2"):
        mixing.plan(pool(layout), {**p, "budget_tokens": 1e6, "max_epochs": 2})
    # a modality with a share and no tokens fails, unless renormalized (and then listed)
    del layout["video"]
    with pytest.raises(mixing.MixingError, match=r"no tokens of video \(share 15.0%\)"):
        mixing.plan(pool(layout), p)
    pl = mixing.plan(pool(layout), {**p, "missing": "renormalize"})
    assert pl.missing == ["video"] and pl.shares["audio"] == pytest.approx(0.20 / 0.85)
