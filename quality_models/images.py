"""Images the project may use offline: the photographs the scikit-image wheel ships, and
generated ones (shapes, gradients, rendered text). Training data for the visual tokenizer,
and material for the tests, the sample and the benchmark.

The photographs and their licences (scikit-image's skimage/data docstrings):
astronaut (Eileen Collins, NASA: public domain), camera (Lav Varshney: CC0), chelsea
(Stefan van der Walt: CC0), coffee (Rachel Michetti: CC0), hubble_deep_field (NASA: public
domain), retina (Mikael Häggström: CC0), rocket (SpaceX: public domain), ihc (CMMI: no
known copyright restrictions), coins (Brooklyn Museum: no known copyright restrictions),
brick, grass, gravel (CC0 textures). Left out: motorcycle (Middlebury stereo set, no
licence stated), moon, logo, and the synthetic test images.
"""
from __future__ import annotations

import os

import numpy as np

PHOTOS = {
    "astronaut": "public domain (NASA)", "camera": "CC0-1.0", "chelsea": "CC0-1.0", "coffee": "CC0-1.0",
    "hubble_deep_field": "public domain (NASA)", "retina": "CC0-1.0", "rocket": "public domain (SpaceX)",
    "ihc": "no known copyright restrictions", "coins": "no known copyright restrictions", "brick": "CC0-1.0",
    "grass": "CC0-1.0", "gravel": "CC0-1.0",
}


def photo_path(name: str) -> str:
    import skimage

    folder = os.path.join(os.path.dirname(skimage.__file__), "data")
    for ext in (".png", ".jpg"):
        p = os.path.join(folder, name + ext)
        if os.path.exists(p):
            return p
    raise FileNotFoundError(f"scikit-image ships no photograph {name!r} in {folder}")


def photo(name: str) -> np.ndarray:
    """HxWx3 uint8 RGB (grey photographs repeated over the channels)."""
    from PIL import Image

    with Image.open(photo_path(name)) as im:
        return np.asarray(im.convert("RGB"))


def fit(img: np.ndarray, size: int) -> np.ndarray:
    """Shorter side to `size`, centre crop: the tokenizer's input policy."""
    from PIL import Image, ImageOps

    return np.asarray(ImageOps.fit(Image.fromarray(img), (size, size), Image.Resampling.BICUBIC))


def random_crop(img: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """A crop of 30-100% of the shorter side at a random place, resized to size x size, maybe
    mirrored, with a small brightness/contrast jitter."""
    from PIL import Image

    h, w = img.shape[:2]
    side = int(min(h, w) * rng.uniform(0.3, 1.0))
    y, x = rng.integers(0, h - side + 1), rng.integers(0, w - side + 1)
    im = Image.fromarray(img[y:y + side, x:x + side]).resize((size, size), Image.Resampling.BICUBIC)
    out = np.asarray(im).astype(np.float32)
    if rng.random() < 0.5:
        out = out[:, ::-1]
    out = (out - 128) * rng.uniform(0.8, 1.2) + 128 + rng.uniform(-20, 20)
    return np.clip(out, 0, 255).astype(np.uint8)


def generated(size: int, rng: np.random.Generator) -> np.ndarray:
    """A gradient background with random shapes and a line of rendered text."""
    from PIL import Image, ImageDraw, ImageFont

    yy, xx = np.mgrid[0:size, 0:size] / size
    c0, c1 = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
    t = (xx * rng.uniform(-1, 1) + yy * rng.uniform(-1, 1))
    t = (t - t.min()) / (np.ptp(t) + 1e-9)
    bg = (c0[None, None] * (1 - t[..., None]) + c1[None, None] * t[..., None]).astype(np.uint8)
    im = Image.fromarray(bg)
    d = ImageDraw.Draw(im)
    for _ in range(rng.integers(2, 7)):
        box = sorted(rng.integers(0, size, 2)), sorted(rng.integers(0, size, 2))
        xy = [box[0][0], box[1][0], box[0][1] + 2, box[1][1] + 2]
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        kind = rng.integers(0, 3)
        if kind == 0:
            d.rectangle(xy, fill=fill)
        elif kind == 1:
            d.ellipse(xy, fill=fill)
        else:
            d.polygon([tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(3)], fill=fill)
    words = "".join(rng.choice(list("abcdefghijklmnopqrstuvwxyz0123456789 "), int(rng.integers(4, 14))))
    font = ImageFont.load_default(size=int(size * rng.uniform(0.08, 0.2)))
    d.text((int(rng.integers(0, size // 2)), int(rng.integers(0, size * 3 // 4))), words,
           fill=tuple(int(v) for v in rng.integers(0, 256, 3)), font=font)
    return np.asarray(im)
