"""Dedup building blocks: signatures equal datasketch's, shingling, bands, URL normalization."""
from __future__ import annotations

import random

import numpy as np
import pytest
from datasketch import MinHash

from pipelines.dedup.minhash import shingle_hash32, shingles, tokens
from pipelines.dedup.stage import hasher_from_config, normalize_url
from quality_models.training_data import load_texts

TEXTS = load_texts()


def datasketch_signature(text: str, lang: str, num_perm=112, seed=1, n=5) -> np.ndarray:
    m = MinHash(num_perm=num_perm, seed=seed, hashfunc=shingle_hash32)
    for sh in shingles(tokens(text, lang), n):
        m.update(sh)
    return m.hashvalues


@pytest.mark.parametrize("num_perm,seed", [(112, 1), (128, 42), (256, 7)])
def test_signatures_identical_to_datasketch(num_perm, seed):
    h = hasher_from_config(num_perm=num_perm, seed=seed, bands=num_perm // 8, rows=8)
    docs = [("\n\n".join(TEXTS[lg][i:i + 3]), lg) for lg in sorted(TEXTS) for i in (0, 7)]
    docs += [("two words", "en"), ("", "en"), ("中文", "zh")]
    sigs = h.signatures([h.doc_shingles(t, lg) for t, lg in docs])
    for (text, lang), sig in zip(docs, sigs):
        assert np.array_equal(sig, datasketch_signature(text, lang, num_perm, seed)), (lang, text[:40])


def test_whole_batch_tokenizing_equals_one_document_at_a_time():
    """MinHasher.batch (one UTF-32 array for the batch) against datasketch fed per document,
    with the cases where a batch could bleed: NUL in a text, empty and short documents,
    mixed scripts, combining marks, full-width digits, CJK next to Latin."""
    h = hasher_from_config(cjk_ngram=3)
    docs = [("a\x00b c d e f g", "en"), ("", "zh"), ("x", "en"), ("中文", "zh"), ("İstanbul ǅemal ٣٤٥ naïve café ok", "tr"),
            ("你好ABC世界１２３abc", "zh"), ("two words", "en"), ("日本語のテキスト、カタカナ", "ja")]
    docs += [("\n".join(TEXTS[lg][i:i + 2]), lg) for lg in ("en", "zh", "ja", "ru") for i in (3, 9)]
    flat, sizes, norm = h.batch([t for t, _ in docs], [lg for _, lg in docs])
    sigs = h.signatures_flat(flat, sizes)
    for (text, lang), sig, size in zip(docs, sigs, sizes):
        n = 3 if lang in ("zh", "ja") else 5
        assert size == len(shingles(tokens(text, lang), n)), (lang, text[:30])
        assert np.array_equal(sig, datasketch_signature(text, lang, n=n)), (lang, text[:30])
    assert norm[0] != norm[6] and len(set(norm)) == len(norm)
    assert h.batch(["Same words, here!"], ["en"])[2] == h.batch(["same WORDS here"], ["en"])[2]


def test_signature_batching_does_not_change_results():
    h = hasher_from_config()
    sets = [h.doc_shingles("\n".join(TEXTS["de"][i:i + 2]), "de") for i in range(30)]
    whole = h.signatures(sets)
    tiny_chunks = h.signatures(sets, chunk=50)
    assert np.array_equal(whole, tiny_chunks)


def test_tokens_for_space_and_cjk_text():
    assert tokens("Hello, World! 2026 was GOOD.", "en") == ["hello", "world", "0000", "was", "good"]
    assert tokens("你好，世界！ 2026", "zh") == ["你", "好", "世", "界", "0", "0", "0", "0"]


def test_similar_documents_share_bands_unrelated_do_not():
    h = hasher_from_config()
    base = "\n\n".join(TEXTS["en"][0:4])
    words = base.split()
    rng = random.Random(0)
    edited = " ".join(w if rng.random() > 0.02 else "changed" for w in words)
    other = "\n\n".join(TEXTS["en"][20:24])
    sigs = h.signatures([h.doc_shingles(t, "en") for t in (base, edited, other)])
    bands = h.band_hashes(sigs)
    assert len(set(bands[0]) & set(bands[1])) >= 1
    assert len(set(bands[0]) & set(bands[2])) == 0
    assert np.mean(sigs[0] == sigs[1]) > 0.7 and np.mean(sigs[0] == sigs[2]) < 0.1


def test_bands_must_fit_the_permutations():
    with pytest.raises(ValueError, match="exceeds num_perm"):
        hasher_from_config(num_perm=64, bands=14, rows=8)


def test_url_normalization():
    assert normalize_url("https://WWW.Example.com/a/b/?x=1#frag") == "example.com/a/b?x=1"
    assert normalize_url("http://example.com") == "example.com/"
    assert normalize_url(None) is None
