"""Videos the tests, the sample and the benchmark make with PyAV: scenes with hard cuts at
known frames, a moving shape and rendered text in each, an audio track of espeak-ng speech
and tones; variants (re-encoded and resized copies, variable frame rate, rotation metadata)
and broken files (truncated, garbage, no video stream, an unknown codec, too short, too
small)."""
from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np

AUDIO_RATE = 24000
# scene colours (RGB): far apart in hue and brightness, so every cut is a real content change
PALETTE = [(200, 40, 40), (30, 140, 60), (40, 60, 190), (220, 200, 40), (130, 40, 160), (20, 170, 190),
           (240, 140, 20), (90, 90, 90), (250, 250, 250), (110, 60, 20)]


@dataclass
class Spec:
    """What to draw: `cuts` are the first frames of scenes 2..n (frame indices)."""
    frames: int
    cuts: list[int]
    width: int = 640
    height: int = 360
    fps: int = 25
    seed: int = 0
    label: str = "Scene"
    speech_lang: str | None = "en"            # the audio track: speech in this language (None: tones only)
    audio: bool = True
    times: list[float] | None = None          # presentation times (variable frame rate); None: i / fps
    footage: bool = False                     # camera-like: a panning photograph with grain (the
                                              # benchmark's: flat colours encode at ~0.2 Mbit/s at 720p)
    extra: dict = field(default_factory=dict)

    def scene_of(self, i: int) -> int:
        return sum(1 for c in self.cuts if i >= c)


@functools.lru_cache(maxsize=4)
def _panorama(name: str, width: int, height: int) -> np.ndarray:
    """A photograph scaled to cover (height, width + pan room)."""
    from PIL import Image

    from quality_models.images import photo

    im = Image.fromarray(photo(name))
    scale = max((width + width // 2) / im.width, height / im.height)
    im = im.resize((int(im.width * scale) + 1, int(im.height * scale) + 1), Image.Resampling.BILINEAR)
    return np.asarray(im)[:height]


@functools.lru_cache(maxsize=2)
def _grain(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 5, (8, height, width, 1)).astype(np.float32)


def _background(spec: Spec, s: int, i: int) -> np.ndarray:
    h, w = spec.height, spec.width
    if spec.footage:
        from corpora.images import SAMPLE_PHOTOS

        pano = _panorama(SAMPLE_PHOTOS[(s + spec.seed) % len(SAMPLE_PHOTOS)], w, h)
        room = max(1, pano.shape[1] - w)
        x = abs((i * 3) % (2 * room) - room)            # the camera pans back and forth, never jumps
        frame = pano[:, x:x + w].astype(np.float32) + _grain(h, w, spec.seed)[i % 8]
        return np.clip(frame, 0, 255).astype(np.uint8)
    rng = np.random.default_rng(spec.seed * 1000 + s)
    base = np.array(PALETTE[(s + spec.seed) % len(PALETTE)], np.float32)
    grad = np.linspace(0.75, 1.15, w, dtype=np.float32)[None, :, None]
    img = np.clip(base[None, None, :] * grad + rng.normal(0, 6, (h, 1, 3)), 0, 255).astype(np.uint8)
    return np.broadcast_to(img, (h, w, 3)).copy()


def draw(spec: Spec, i: int) -> np.ndarray:
    """Frame i: the scene's colour with a gradient (or a panning photograph with grain), a
    moving square and a text line."""
    from PIL import Image, ImageDraw

    s = spec.scene_of(i)
    rng = np.random.default_rng(spec.seed * 1000 + s)
    base = np.array(PALETTE[(s + spec.seed) % len(PALETTE)], np.float32)
    h, w = spec.height, spec.width
    img = _background(spec, s, i)
    side = max(8, h // 5)
    x = int((i * 7 + rng.integers(0, w)) % max(1, w - side))
    y = int(h // 2 + (h // 4) * np.sin(i / 9.0 + s)) - side // 2
    img[max(0, y):y + side, x:x + side] = 255 - base.astype(np.uint8)
    im = Image.fromarray(img)
    ImageDraw.Draw(im).text((w // 16, h // 12), f"{spec.label} {s + 1}: frame {i}", fill=(255, 255, 255))
    return np.asarray(im)


def soundtrack(spec: Spec, seconds: float) -> np.ndarray:
    """Mono float32 at AUDIO_RATE: speech (espeak-ng) over a quiet tone, or tones alone."""
    from quality_models.speech import speech, tones_and_noise

    n = int(round(seconds * AUDIO_RATE))
    if spec.speech_lang:
        x = speech(spec.speech_lang, seconds, seed=spec.seed, rate=AUDIO_RATE)
    else:
        x = tones_and_noise(seconds, AUDIO_RATE, seed=spec.seed)
    x = np.pad(x, (0, max(0, n - x.size)))[:n]
    t = np.arange(n) / AUDIO_RATE
    return (0.8 * x + 0.05 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def write(path: Path, spec: Spec, codec: str = "libx264", crf: int = 23, rotation: int | None = None,
          audio_codec: str = "aac") -> Path:
    """Encode `spec` to `path` (container from the name)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    times = spec.times or [i / spec.fps for i in range(spec.frames)]
    seconds = times[-1] + 1.0 / spec.fps
    with av.open(str(path), "w") as out:
        vs = out.add_stream(codec, rate=spec.fps)
        vs.width, vs.height = spec.width, spec.height
        vs.pix_fmt = "yuv420p"
        if codec == "libx264":
            vs.options = {"preset": "veryfast", "crf": str(crf)}
        ms = Fraction(1, 1000)
        if spec.times:
            vs.codec_context.time_base = ms
        if rotation is not None:
            vs.set_display_rotation(rotation)
        ast = None
        if spec.audio:
            ast = out.add_stream(audio_codec, rate=AUDIO_RATE, layout="mono")
        for i, t in enumerate(times):
            frame = av.VideoFrame.from_ndarray(draw(spec, i), format="rgb24")
            if spec.times:
                frame.pts, frame.time_base = int(round(t * 1000)), ms
            for p in vs.encode(frame):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if ast is not None:
            pcm = (np.clip(soundtrack(spec, seconds), -1, 1) * 32767).astype("<i2")
            for k in range(0, pcm.size, 1024):
                af = av.AudioFrame.from_ndarray(pcm[None, k:k + 1024], format="s16", layout="mono")
                af.sample_rate = AUDIO_RATE
                for p in ast.encode(af):
                    out.mux(p)
            for p in ast.encode(None):
                out.mux(p)
    return path


def transcode(src: Path, dst: Path, width: int, height: int, crf: int = 30) -> Path:
    """A re-encoded, resized copy (video re-encoded, audio re-encoded as AAC)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        v_in = inp.streams.video[0]
        vs = out.add_stream("libx264", rate=v_in.average_rate or 25)
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        vs.options = {"preset": "veryfast", "crf": str(crf)}
        a_in = inp.streams.audio[0] if inp.streams.audio else None
        ast = out.add_stream("aac", rate=AUDIO_RATE, layout="mono") if a_in is not None else None
        step = Fraction(1, int(round(float(v_in.average_rate or 25))))
        for i, frame in enumerate(inp.decode(v_in)):
            f = frame.reformat(width=width, height=height, format="yuv420p")
            f.pts, f.time_base = i, step
            for p in vs.encode(f):
                out.mux(p)
        for p in vs.encode():
            out.mux(p)
        if a_in is not None:
            res = av.AudioResampler(format="fltp", layout="mono", rate=AUDIO_RATE)
            inp.seek(0)
            for frame in inp.decode(a_in):
                for f in res.resample(frame):
                    f.pts = None
                    for p in ast.encode(f):
                        out.mux(p)
            for p in ast.encode(None):
                out.mux(p)
    return dst


def vfr_times(frames: int, seed: int = 0) -> list[float]:
    """Presentation times at a variable rate: runs at 30, 12 and 24 fps with jitter-free steps."""
    rates = [30, 12, 24]
    t, out = 0.0, []
    for i in range(frames):
        out.append(round(t, 3))
        t += 1.0 / rates[(i // 20 + seed) % len(rates)]
    return out


def unknown_codec(path: Path, spec: Spec) -> Path:
    """An AVI whose video FourCC is one no FFmpeg decoder knows (MPEG-4 Part 2 bytes under 'QQQQ')."""
    tmp = path.with_suffix(".tmp.avi")
    write(tmp, Spec(**{**spec.__dict__, "audio": False}), codec="mpeg4")
    data = tmp.read_bytes()
    tmp.unlink()
    for tag in (b"FMP4", b"fmp4", b"XVID", b"DIVX", b"DX50", b"MP4V", b"mp4v"):
        data = data.replace(tag, b"QQQQ")
    path.write_bytes(data)
    return path


def broken(folder: Path, seed: int = 7) -> dict[str, str]:
    """Broken videos -> the reason each must be rejected with (corrupt_media: by ingest, whose
    MP4 probe reads the index; the others by the video stage)."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = Spec(frames=50, cuts=[25], width=320, height=180, seed=seed)
    good = write(folder / "_whole.mkv", spec).read_bytes()
    (folder / "cut.mkv").write_bytes(good[: len(good) // 3])           # truncated: states 2 s, holds less
    (folder / "_whole.mkv").unlink()
    mp4 = write(folder / "_whole.mp4", spec).read_bytes()
    (folder / "no-index.mp4").write_bytes(mp4[: len(mp4) // 2])        # moov atom lost with the tail
    (folder / "_whole.mp4").unlink()
    (folder / "garbage.mkv").write_bytes(bytes(np.random.default_rng(seed).integers(0, 256, 4000, dtype=np.uint8)))
    from quality_models.speech import encode_file, speech

    encode_file(folder / "sound-only.mp4", speech("en", 2.0, seed=seed, rate=AUDIO_RATE), AUDIO_RATE, "aac")
    unknown_codec(folder / "unknown-codec.avi", spec)
    write(folder / "blink.mp4", Spec(frames=8, cuts=[], width=320, height=180, seed=seed))
    write(folder / "tiny.mp4", Spec(frames=40, cuts=[20], width=96, height=64, seed=seed))
    return {"cut.mkv": "video_truncated", "no-index.mp4": "corrupt_media", "garbage.mkv": "video_undecodable",
            "sound-only.mp4": "video_no_stream", "unknown-codec.avi": "video_codec_unsupported",
            "blink.mp4": "video_too_short", "tiny.mp4": "video_low_resolution"}


# the sample's and the tests' videos: (name, spec, how it is written)
def sample_specs() -> list[tuple[str, Spec, dict]]:
    lecture = Spec(frames=150, cuts=[40, 95], seed=1, label="Lecture", speech_lang="en")
    return [
        ("lecture.mp4", lecture, {}),
        ("documentary.mp4", Spec(frames=125, cuts=[30, 70, 100], width=480, height=270, seed=2, label="Forest",
                                 speech_lang="de"), {}),
        ("interview.mkv", Spec(frames=100, cuts=[50], width=320, height=240, seed=3, label="Interview",
                               speech_lang="zh", fps=20), {}),
        ("portrait.mp4", Spec(frames=60, cuts=[30], width=320, height=180, seed=4, label="Phone", speech_lang=None),
         {"rotation": -90}),
        ("variable-rate.mkv", Spec(frames=60, cuts=[20, 40], width=320, height=180, seed=5, label="VFR",
                                   times=vfr_times(60), speech_lang="fr"), {}),
    ]


def write_video_folder(out: Path, dataset: str = "sample-videos", license: str = "CC-BY-4.0",
                       with_broken: bool = True) -> list[dict]:
    """The sample videos, a re-encoded 360p->240p copy of the lecture, and broken files; the
    manifest lines (path, license, lang, dataset)."""
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for name, spec, how in sample_specs():
        write(out / name, spec, **how)
        entries.append({"path": name, "license": license, "dataset": dataset,
                        **({"lang": spec.speech_lang} if spec.speech_lang else {})})
    transcode(out / "lecture.mp4", out / "lecture-240p.mp4", 426, 240)
    entries.append({"path": "lecture-240p.mp4", "license": license, "lang": "en", "dataset": dataset})
    if with_broken:
        for name in broken(out):
            entries.append({"path": name, "license": license, "dataset": dataset})
    with open(out / "manifest.jsonl", "w") as fh:
        for e in entries:
            fh.write(json.dumps(e) + "\n")
    return entries
