"""Image material for the sample, the tests and the benchmark: scikit-image's photographs
(quality_models/images.py: CC0 / public domain), their edited copies, generated images, the
broken files the image stage must reject, and crawled pages whose <img> elements point at
image responses in the same WARC.
"""
from __future__ import annotations

import io
import random
import struct
import zlib
from pathlib import Path

import numpy as np

from quality_models.images import PHOTOS, generated, photo

SAMPLE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "hubble_deep_field", "retina", "ihc", "camera")
FOUND_EDITS = ("resized", "recompressed", "colour_shifted")     # near-duplicates the stage must find
HARD_EDITS = ("cropped", "mirrored")                             # what perceptual hashes miss (measured)


def encode(img: np.ndarray, fmt: str = "JPEG", quality: int = 90) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    im = Image.fromarray(img)
    im.save(buf, fmt, **({"quality": quality} if fmt == "JPEG" else {}))
    return buf.getvalue()


def edit(img: np.ndarray, kind: str) -> bytes:
    """An edited copy as a file's bytes: a near-duplicate (FOUND_EDITS) or one the hashes are
    not meant to catch (HARD_EDITS)."""
    from PIL import Image

    im = Image.fromarray(img)
    if kind == "resized":
        return encode(np.asarray(im.resize((im.width // 2, im.height // 2), Image.Resampling.LANCZOS)))
    if kind == "recompressed":
        return encode(img, quality=30)
    if kind == "colour_shifted":
        shifted = img.astype(np.int16) + np.array([14, -6, -10])
        return encode(np.clip(shifted * 1.05, 0, 255).astype(np.uint8), fmt="PNG")
    if kind == "cropped":
        h, w = img.shape[:2]
        return encode(img[h // 8: h - h // 4, w // 6: w - w // 8])
    if kind == "mirrored":
        return encode(img[:, ::-1].copy())
    raise ValueError(kind)


def png_bomb(width: int = 30000, height: int = 30000) -> bytes:
    """A PNG whose header claims width x height pixels (900 MP by default), with one tiny IDAT:
    what a decompression bomb looks like before decoding."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + idat + chunk(b"IEND", b"")


def bad_images(rng: random.Random, bomb: tuple[int, int] = (30000, 30000)) -> dict[str, bytes]:
    """name -> bytes of each kind the stage rejects (EXPECTED_REASONS: the reason it should give).
    The default bomb is over twice Pillow's limit (ingest refuses it); a smaller one reaches
    the image stage, whose image.file.max_pixels can be lower."""
    photo_jpeg = encode(photo("chelsea"))
    return {
        "truncated.jpg": photo_jpeg[: len(photo_jpeg) * 2 // 3],
        "corrupt.jpg": photo_jpeg[:200] + bytes(rng.randrange(256) for _ in range(3000)),
        "tiny.png": encode(generated(40, np.random.default_rng(1)), "PNG"),
        "banner.jpg": encode(np.asarray(_banner())),
        "blank.png": encode(np.full((300, 300, 3), 250, np.uint8), "PNG"),
        "bomb.png": png_bomb(*bomb),
    }


EXPECTED_REASONS = {"truncated.jpg": "image_truncated", "corrupt.jpg": "image_corrupt", "tiny.png": "image_too_small",
                    "banner.jpg": "image_extreme_aspect", "blank.png": "image_blank", "bomb.png": "image_bomb"}


def _banner():
    from PIL import Image

    return Image.fromarray(generated(200, np.random.default_rng(2))).resize((1000, 150))


def write_image_folder(out: Path, dataset: str = "sample-images", edits=FOUND_EDITS) -> list[dict]:
    """Photographs as JPEG (cmyk / palette / alpha variants of some), edited copies, generated
    images and the bad files; returns manifest entries."""
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    entries = []

    def put(name: str, data: bytes, lic: str = "CC0-1.0"):
        (out / name).write_bytes(data)
        entries.append({"path": name, "license": lic, "dataset": dataset})
    for name in SAMPLE_PHOTOS:
        img = photo(name)
        lic = "CC0-1.0" if PHOTOS[name] == "CC0-1.0" else "PDM-1.0"
        put(f"{name}.jpg", encode(img), lic)
        for kind in edits:
            put(f"{name}-{kind}.{'png' if kind == 'colour_shifted' else 'jpg'}", edit(img, kind), lic)
    buf = io.BytesIO()
    Image.fromarray(photo("retina")).convert("CMYK").save(buf, "JPEG", quality=90)
    put("retina-cmyk.jpg", buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(photo("coffee")).convert("P", palette=Image.Palette.ADAPTIVE).save(buf, "PNG")
    put("coffee-palette.png", buf.getvalue())
    rng = np.random.default_rng(3)
    for k in range(6):
        put(f"generated-{k}.png", encode(generated(320, rng), "PNG"))
    for name, data in bad_images(random.Random(4)).items():
        put(name, data)
    return entries


def crawled_pages(texts: dict, rng: random.Random, host: str = "www.photos.example.com"):
    """(pages, image responses) for a WARC: pages with <img> elements (alt text, a <figure>
    with a figcaption, an image on two pages, a lazy data-src), the images they point at,
    and an image no page links to. Pages and responses are corpora.sample Page objects."""
    from corpora.sample import Page, make_page

    photos = ["astronaut", "chelsea", "rocket", "coffee", "hubble_deep_field"]
    alts = {"astronaut": "Portrait of astronaut Eileen Collins in her flight suit",
            "chelsea": "A tabby cat named Chelsea looking to the side",
            "rocket": "A Falcon 9 rocket on the launch pad at sunrise",
            "coffee": "Eine Tasse Kaffee auf einem Unterteller",
            "hubble_deep_field": None}
    captions = {"hubble_deep_field": "The Hubble eXtreme Deep Field: thousands of galaxies in one exposure"}
    base = f"https://{host}"
    images = []
    for name in photos:
        images.append(Page(url=f"{base}/img/{name}.jpg", lang="", content_type="image/jpeg",
                           body=encode(photo(name), quality=88)))
    images.append(Page(url=f"{base}/img/unlinked.png", lang="", content_type="image/png",
                       body=encode(generated(300, np.random.default_rng(9)), "PNG")))
    pages = []
    langs = ["en", "en", "de", "en"]
    for k, lang in enumerate(langs):
        page = make_page(9000 + k, lang, texts[lang], rng, pii=False, license_id="CC-BY-4.0", host=host)
        shown = photos[k:k + 2]
        tags = []
        for name in shown:
            src = f"/img/{name}.jpg" if k % 2 == 0 else f"{base}/img/{name}.jpg#view"
            alt = f' alt="{alts[name]}"' if alts[name] else ""
            if name in captions:
                tags.append(f'<figure><img src="{src}"{alt}><figcaption>{captions[name]}</figcaption></figure>')
            elif k == 3:
                tags.append(f'<img data-src="{src}"{alt}>')
            else:
                tags.append(f'<img src="{src}"{alt}>')
        page.html = page.html.replace("</article>", "".join(tags) + "</article>")
        pages.append(page)
    return pages, images
