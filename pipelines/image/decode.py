"""One image file -> an RGB Pillow image, its signals and perceptual hashes (Pillow, imagehash).

Decoding: the header first (size, format), refused over the decompression-bomb limit before
any pixel is decoded; JPEGs in draft mode (libjpeg's DCT scaling, 1/2 to 1/8, to the
smallest scale that still covers the tokenizer's input: a 1 MP photo decodes ~4x faster);
the first frame of animations; EXIF orientation applied; CMYK, palette, grey, 16-bit and
alpha images converted to RGB (transparency composited on white). Truncated files fail
(Pillow's LOAD_TRUNCATED_IMAGES stays off).

Signals (over the decoded image): width, height (the file's), aspect (long side / short
side), megapixels, blur (variance of the 4-neighbour Laplacian of the grey image at 256 px
on the short side: low = blurry), pixel_std (grey levels' standard deviation on a 64x64
thumbnail: ~0 = blank), uniform_share (share of thumbnail pixels within 8 grey levels of
its median), and from the caption: caption_chars. Hashes: imagehash's pHash and dHash (64
bits each) of the image, as 16 bytes.
"""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass

import numpy as np

ANALYSIS_SIDE = 256


class ImageError(ValueError):
    def __init__(self, reason: str, detail: str):
        super().__init__(detail)
        self.reason = reason


@dataclass
class Decoded:
    image: object                 # PIL.Image in RGB (L when decoded grey), possibly draft-reduced
    width: int                    # of the file (after EXIF rotation)
    height: int
    format: str | None


def decode(fh, max_pixels: int, side: int = ANALYSIS_SIDE, grey: bool = False) -> Decoded:
    """RGB image of an open binary file (`grey`: luminance only, what the signals and hashes
    need: a JPEG then skips chroma upsampling and colour conversion); ImageError(reason) when
    it cannot be used."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(fh)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError("image_bomb", str(e)) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as e:
        raise ImageError("image_corrupt", f"not a readable image: {e}") from None
    w, h = im.size
    if w * h > max_pixels:
        raise ImageError("image_bomb", f"{w}x{h} = {w * h} pixels exceeds the limit of {max_pixels}")
    fmt = (im.format or "").lower() or None
    try:
        if fmt == "jpeg":
            scale = min(w, h) / side
            if scale >= 2:
                im.draft("L" if grey else "RGB", (max(1, int(w / scale)), max(1, int(h / scale))))
            elif grey and im.mode == "RGB":
                im.draft("L", (w, h))
        im.load()
        orientation = im.getexif().get(0x0112, 1)
        if orientation in (5, 6, 7, 8):
            w, h = h, w
        im = ImageOps.exif_transpose(im)
        rgb = im if grey and im.mode == "L" else to_rgb(im)
        if grey:
            rgb = _grey(rgb)
    except (OSError, SyntaxError, ValueError, struct.error, EOFError) as e:
        msg = str(e)
        reason = "image_truncated" if "truncated" in msg or "broken data stream" in msg else "image_corrupt"
        raise ImageError(reason, f"decoding failed: {msg}") from None
    return Decoded(rgb, w, h, fmt)


def to_rgb(im):
    from PIL import Image

    if im.mode == "RGB":
        return im
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float32)
        lo, hi = float(a.min()), float(a.max())
        im = Image.fromarray(((a - lo) / (hi - lo + 1e-9) * 255).astype(np.uint8))
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "L" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return im.convert("RGB")


def _grey(im):
    return im if im.mode == "L" else im.convert("L")


def signals(d: Decoded) -> dict[str, float]:
    from PIL import Image

    w, h = d.width, d.height
    grey = _grey(d.image)
    short = min(grey.size)
    if short > ANALYSIS_SIDE:
        k = ANALYSIS_SIDE / short
        grey = grey.resize((max(1, round(grey.width * k)), max(1, round(grey.height * k))), Image.Resampling.BILINEAR)
    g = np.asarray(grey, dtype=np.float32)
    lap = (g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4 * g[1:-1, 1:-1]) if min(g.shape) > 2 else g
    thumb = np.asarray(grey.resize((64, 64), Image.Resampling.BILINEAR), dtype=np.float32)
    return {"width": float(w), "height": float(h), "aspect": max(w, h) / max(1, min(w, h)),
            "megapixels": w * h / 1e6, "blur": float(lap.var()), "pixel_std": float(thumb.std()),
            "uniform_share": float(np.mean(np.abs(thumb - np.median(thumb)) <= 8))}


def hashes(d: Decoded) -> bytes:
    """pHash then dHash, 8 bytes each, big-endian (imagehash's bit order)."""
    import imagehash
    from PIL import Image

    small = _grey(d.image)
    if min(small.size) > 128:          # imagehash resizes to 32x32 / 9x8 itself; this only makes it cheap
        small = small.resize((128, 128), Image.Resampling.BILINEAR, reducing_gap=2.0)
    p, q = imagehash.phash(small), imagehash.dhash(small)
    return int(str(p), 16).to_bytes(8, "big") + int(str(q), 16).to_bytes(8, "big")


def model_input(d: Decoded, size: int, mode: str):
    """The tokenizer's size x size RGB input: centre crop of the shorter side (`crop`), or the
    whole image letterboxed on white (`pad`)."""
    from PIL import Image, ImageOps

    if mode == "pad":
        return ImageOps.pad(d.image, (size, size), Image.Resampling.BICUBIC, color=(255, 255, 255))
    return ImageOps.fit(d.image, (size, size), Image.Resampling.BICUBIC)
