"""Image decoding, signals, perceptual hashes, <img> references and the VQ tokenizer, without Spark."""
from __future__ import annotations

import io
import random

import numpy as np
import pytest
from PIL import Image

from corpora.images import EXPECTED_REASONS, FOUND_EDITS, HARD_EDITS, bad_images, edit, encode
from pipelines.image.decode import ImageError, decode, hashes, model_input, signals
from pipelines.image.stage import layout
from pipelines.ingest.img_refs import image_refs
from quality_models.images import generated, photo


def hamming(a: bytes, b: bytes) -> tuple[int, int]:
    x = [bin(int.from_bytes(a[i:i + 8], "big") ^ int.from_bytes(b[i:i + 8], "big")).count("1") for i in (0, 8)]
    return x[0], x[1]


def fp_of(data: bytes) -> bytes:
    return hashes(decode(io.BytesIO(data), 10**8))


def test_bad_files_give_their_reasons():
    for name, data in bad_images(random.Random(0), bomb=(9000, 9000)).items():
        reason = EXPECTED_REASONS[name]
        if reason.startswith("image_") and reason in ("image_truncated", "image_corrupt", "image_bomb"):
            with pytest.raises(ImageError) as e:
                decode(io.BytesIO(data), 50_000_000)
            assert e.value.reason == reason, name
        else:                         # decodable: the rules decide from the signals
            s = signals(decode(io.BytesIO(data), 50_000_000))
            assert {"image_too_small": s["width"] < 128, "image_extreme_aspect": s["aspect"] > 3,
                    "image_blank": s["pixel_std"] < 3}[reason], name


def test_modes_and_orientation_become_upright_rgb():
    img = photo("chelsea")                                     # 451 x 300
    for mode in ("CMYK", "P", "LA", "RGBA", "L", "I;16"):
        im = Image.fromarray(img).convert("L" if mode == "I;16" else mode)
        if mode == "I;16":
            im = Image.fromarray(np.asarray(im).astype(np.uint16) * 256)
        buf = io.BytesIO()
        im.save(buf, "JPEG" if mode == "CMYK" else "PNG")
        d = decode(io.BytesIO(buf.getvalue()), 10**8)
        assert d.image.mode == "RGB" and (d.width, d.height) == (451, 300), mode
    buf = io.BytesIO()
    exif = Image.Exif()
    exif[0x0112] = 6                                           # rotate 90 on display
    Image.fromarray(img).save(buf, "JPEG", exif=exif)
    d = decode(io.BytesIO(buf.getvalue()), 10**8)
    assert (d.width, d.height) == (300, 451) and d.image.height > d.image.width


def test_large_jpegs_decode_in_draft_mode_to_at_least_the_tokenizer_side():
    big = np.asarray(Image.fromarray(photo("astronaut")).resize((1600, 1200)))
    d = decode(io.BytesIO(encode(big)), 10**8)
    assert (d.width, d.height) == (1600, 1200) and min(d.image.size) >= 256 and d.image.size[0] <= 800
    x = np.asarray(model_input(d, 256, "crop"))
    assert x.shape == (256, 256, 3)
    assert np.asarray(model_input(d, 256, "pad")).shape == (256, 256, 3)


def test_edited_copies_are_near_and_unrelated_images_far():
    names = ("astronaut", "chelsea", "coffee", "rocket", "camera")
    base = {n: fp_of(encode(photo(n))) for n in names}
    for n in names:
        for kind in FOUND_EDITS:
            p, d = hamming(base[n], fp_of(edit(photo(n), kind)))
            assert p <= 8 and d <= 12, (n, kind, p, d)
        mirrored = hamming(base[n], fp_of(edit(photo(n), "mirrored")))
        assert mirrored[0] > 8                                 # missed by design: pHash is not mirror-invariant
    for a in names:
        for b in names:
            if a < b:
                p, d = hamming(base[a], base[b])
                assert p > 8 or d > 12, (a, b, p, d)
    assert set(HARD_EDITS) == {"cropped", "mirrored"}


def test_img_refs_resolve_urls_and_find_alt_and_captions():
    html = ('<html><body><p>x</p><img src="/a.jpg" alt=" A  cat "><figure><img data-src="b.png#z">'
            '<figcaption>The <b>dog</b></figcaption></figure><img src="data:image/png;base64,xx"></body></html>')
    refs = image_refs(html, "https://ex.com/p/page.html")
    assert refs == [{"url": "https://ex.com/a.jpg", "alt": "A cat", "caption": None},
                    {"url": "https://ex.com/p/b.png", "alt": None, "caption": "The dog"}]
    assert image_refs("<p>no images</p>", "https://ex.com/") is None


def test_layout_wraps_codes_in_the_image_range():
    sp = {"<|image_start|>": 5, "<|image_end|>": 6, "<|row_end|>": 7}
    codes = np.arange(256).reshape(16, 16)
    ids = layout(codes, 1000, sp, row_markers=False)
    assert ids.size == 258 and ids[0] == 5 and ids[-1] == 6 and ids[1:-1].min() == 1000 and ids[1:-1].max() == 1255
    rows = layout(codes, 1000, sp, row_markers=True)
    assert rows.size == 258 + 16 and (rows == 7).sum() == 16 and rows[17] == 7


def test_the_project_tokenizer_reaches_its_saved_psnr_on_held_out_images():
    from tokenize_jobs.image_vq import VQTokenizer
    from tokenize_jobs.image_vq_train import default_folder, evaluate, held_out_images

    tok = VQTokenizer(default_folder())
    saved = tok.report["held_out"]
    now = evaluate(tok, held_out_images())
    assert now["psnr_db"] >= saved["psnr_db"] - 0.05
    assert now["psnr_db"] > saved["floors_psnr_db"]["mean_colour"] + 3
    assert now["grid"] == [16, 16] and tok.codes == 16384
    a, b = held_out_images()[:2]
    one = tok.encode([a])[0]
    assert np.array_equal(one, tok.encode([a])[0]) and not np.array_equal(one, tok.encode([b])[0])
    assert one.min() >= 0 and one.max() < 16384


def test_generated_images_vary():
    rng = np.random.default_rng(0)
    a, b = generated(64, rng), generated(64, rng)
    assert a.shape == (64, 64, 3) and not np.array_equal(a, b)
