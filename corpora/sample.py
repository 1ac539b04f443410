"""Deterministic sample corpus: WARC/WET/JSONL/Parquet/media built from texts the project ships.

The texts are paragraphs of the Debian Installation Guide in 19 languages
(data/sample/texts, GPL-2.0; see data/sample/NOTICE). Pages get boilerplate, stated
licenses (CC-BY, CC-BY-SA, CC0 or none), PII (emails, phones, Chinese ID and mobile
numbers), exact and near duplicates, and deliberately broken records and files, so the
whole pipeline has something to do. The same seed always gives the same bytes.

    generate(out_dir)                          # the sample: a few MB
    generate_warcs(out_dir, n_records=100_000) # benchmark corpus
"""
from __future__ import annotations

import gzip
import io
import json
import math
import random
import struct
import wave
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from quality_models.training_data import load_texts

EPOCH = datetime(2026, 10, 1, tzinfo=UTC)
LICENSE_URLS = {
    "CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
    "CC-BY-SA-4.0": "https://creativecommons.org/licenses/by-sa/4.0/",
    "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
}
BOILERPLATE = {
    "nav": '<nav class="menu"><a href="/">Home</a> | <a href="/news">News</a> | <a href="/about">About us</a>'
           ' | <a href="/contact">Contact</a> | <a href="/login">Log in</a></nav>',
    "cookie": '<div class="cookie-banner">We use cookies to improve your experience. By continuing to browse '
              'the site you agree to our use of cookies. <a href="/privacy">Privacy policy</a> '
              '<button>Accept all</button></div>',
    "cookie_zh": '<div class="cookie">本网站使用 Cookie 来改善您的浏览体验。继续浏览即表示您同意我们使用 Cookie。'
                 '<a href="/privacy">隐私政策</a></div>',
    "footer": '<footer>&copy; 2026 Example Media Group. All rights reserved. <a href="/terms">Terms of use</a>'
              ' | <a href="/sitemap">Sitemap</a> | Follow us on social media</footer>',
    "share": '<div class="share">Share this: Facebook Twitter LinkedIn Email Print</div>',
}


# -- PII generators (synthetic values, valid formats) --------------------------------------
def cn_id_check_digit(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of a mainland resident ID (GB 11643)."""
    from stdnum.cn import ric

    return ric.calc_check_digit(first17 + "?")   # stdnum takes the whole number, check digit ignored


def fake_cn_id(rng: random.Random) -> str:
    area = rng.choice(["110101", "310104", "440305", "510107", "330106", "420111"])
    born = datetime(1960, 1, 1) + timedelta(days=rng.randrange(0, 40 * 365))
    first17 = f"{area}{born:%Y%m%d}{rng.randrange(0, 1000):03d}"
    return first17 + cn_id_check_digit(first17)


def fake_cn_mobile(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(0, 10**9):09d}"


def fake_email(rng: random.Random) -> str:
    user = rng.choice(["li.wei", "j.smith", "maria.garcia", "zhang_san", "k.tanaka", "anna.k"])
    user += str(rng.randrange(100))
    return f"{user}@{rng.choice(['example.com', 'mail.example.org', 'corp.example.net'])}"


def fake_us_phone(rng: random.Random) -> str:
    exchange, line = rng.randrange(200, 999), rng.randrange(0, 10000)
    return f"+1 ({(415, 212, 646, 312)[exchange % 4]}) {exchange}-{line:04d}"


def pii_block(lang: str, rng: random.Random) -> str:
    if lang == "zh":
        return (f"<p>联系人：王先生，手机：{fake_cn_mobile(rng)}，邮箱：{fake_email(rng)}，"
                f"身份证号：{fake_cn_id(rng)}。</p>")
    return f"<p>Contact: {fake_email(rng)}, phone {fake_us_phone(rng)}.</p>"


# -- pages -----------------------------------------------------------------------------------
@dataclass
class Page:
    url: str
    lang: str
    html: str = ""
    charset: str = "utf-8"          # charset the body is encoded with
    declare: bool = True            # put charset in the HTTP header
    status: int = 200
    content_type: str = "text/html"
    body: bytes | None = None       # raw override (broken records)
    robots: str | None = None       # X-Robots-Tag header

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body
        return self.html.encode(self.charset)


def _perturb(text: str, rate: float, rng: random.Random) -> str:
    """Near-duplicate: change roughly `rate` of the words (or CJK characters)."""
    if " " in text:
        words = text.split(" ")
        for i in range(len(words)):
            if rng.random() < rate:
                words[i] = rng.choice(["indeed", "also", "new", "local", "modern", "some"])
        return " ".join(words)
    chars = list(text)
    for i in range(len(chars)):
        if rng.random() < rate:
            chars[i] = rng.choice("的一是在不了有和人这中大为上个国")
    return "".join(chars)


def make_page(i: int, lang: str, paras: list[str], rng: random.Random, pii: bool, license_id: str | None,
              host: str | None = None) -> Page:
    k = rng.randint(2, 5)
    start = rng.randrange(0, max(1, len(paras) - k))
    body_paras = paras[start:start + k]
    other = paras[(start + k + rng.randrange(1, 10)) % len(paras)]   # a title not repeated in the body
    title = " ".join(other.split()[:8]) if " " in other else other[:24]
    parts = [BOILERPLATE["nav"], BOILERPLATE["cookie_zh" if lang == "zh" else "cookie"], f"<h1>{title}</h1>",
             "<article>"] + [f"<p>{p}</p>" for p in body_paras]
    if pii:
        parts.append(pii_block(lang, rng))
    parts.append("</article>")
    parts += [BOILERPLATE["share"], BOILERPLATE["footer"]]
    if license_id:
        parts.append(f'<p class="license">This work is licensed under <a rel="license" '
                     f'href="{LICENSE_URLS[license_id]}">{license_id}</a>.</p>')
    html = (f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>'
            f'<body>{"".join(parts)}</body></html>')
    host = host or f"www.site{i % 37}.example.{'cn' if lang == 'zh' else 'com'}"
    return Page(url=f"https://{host}/{lang}/article-{i}.html", html=html, lang=lang)


def sample_pages(n_pages: int, seed: int = 0, texts: dict | None = None, faults: bool = True) -> list[Page]:
    """Pages in all languages (zh and en weighted up), with duplicates, PII, licenses and faults."""
    texts = texts or load_texts()
    rng = random.Random(seed)
    langs = sorted(texts)
    weights = [8 if lg in ("zh", "en") else 1 for lg in langs]
    licenses = [None] * 11 + ["CC-BY-4.0"] * 5 + ["CC-BY-SA-4.0"] * 2 + ["CC0-1.0"] * 2
    pages: list[Page] = []
    for i in range(n_pages):
        lang = rng.choices(langs, weights)[0]
        pages.append(make_page(i, lang, texts[lang], rng, pii=rng.random() < 0.2, license_id=rng.choice(licenses)))
        if i % 50 == 17:    # AI-training opt-out (the pii stage's license gate rejects it)
            pages[-1].robots = "noai, noimageai"
    # exact duplicates (same bytes, mirror host) and near duplicates (edited, other boilerplate)
    for _ in range(max(1, n_pages // 20)):
        src = pages[rng.randrange(0, n_pages)]
        pages.append(Page(url=src.url.replace("https://www.", "https://mirror."), html=src.html, lang=src.lang))
    for j in range(max(1, n_pages // 20)):
        src = pages[rng.randrange(0, n_pages)]
        html = _perturb(src.html, 0.03, rng).replace(BOILERPLATE["share"], "<div>Related: more stories</div>")
        pages.append(Page(url=src.url.replace(".html", f"-v{j}.html"), html=html, lang=src.lang))
    if faults:
        zh = [p for p in pages if p.lang == "zh"][:4]
        for p in zh[:3]:    # legacy encoding, declared: must decode
            pages.append(Page(url=p.url.replace(".html", "-gbk.html"), lang="zh", charset="gbk",
                              html=p.html.replace('<meta charset="utf-8">', '<meta charset="gbk">')))
        pages.append(Page(url="https://legacy.example.cn/undeclared-gbk.html", lang="zh", charset="gbk",
                          declare=False, html=zh[3].html.replace('<meta charset="utf-8">', "")))
        pages.append(Page(url="https://broken.example.com/bad-utf8.html", lang="en",
                          body=b"<html><body><p>caf\xe9 cr\xe8me br\xfbl\xe9e \xff\xfe</p></body></html>"))
        pages.append(Page(url="https://www.example.com/missing", lang="en", status=404,
                          html="<html><body>Not found</body></html>"))
        pages.append(Page(url="https://www.example.com/old", lang="en", status=301, html=""))
        pages.append(Page(url="https://www.example.com/manual.pdf", lang="", content_type="application/pdf",
                          body=b"%PDF-1.4\n" + bytes(64)))
        pages.append(Page(url="https://www.example.com/logo.png", lang="", content_type="image/png",
                          body=b"\x89PNG\r\n\x1a\n" + bytes(64)))      # an image response that does not decode
        pages.append(Page(url="https://www.example.com/empty", lang="en", body=b"   \n"))
    order = list(range(len(pages)))
    rng.shuffle(order)
    return [pages[k] for k in order]


# -- writers ---------------------------------------------------------------------------------
def _record_id(key: str, index: int) -> str:
    """Deterministic WARC-Record-ID (a name-based UUID) so the same seed gives the same bytes."""
    import uuid
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{key}#{index}')}>"


def write_warc(path: Path, pages: list[Page], start_index: int = 0) -> None:
    """One gzip member per record (the Common Crawl layout), via warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=path.name.endswith(".gz"))
        info = w.create_warcinfo_record(path.name, {"software": "lakehouse sample_corpus",
                                                    "format": "WARC File Format 1.1"})
        info.rec_headers.replace_header("WARC-Record-ID", _record_id(path.name, -1))
        info.rec_headers.replace_header("WARC-Date", EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"))
        w.write_record(info)
        for k, p in enumerate(pages):
            ct = p.content_type + (f"; charset={p.charset}" if p.declare and p.content_type == "text/html" else "")
            reason = {200: "OK", 404: "Not Found", 301: "Moved Permanently"}[p.status]
            http = StatusAndHeaders(f"{p.status} {reason}", [("Content-Type", ct), ("Server", "nginx")]
                                    + ([("Content-Language", p.lang)] if p.lang else [])
                                    + ([("X-Robots-Tag", p.robots)] if p.robots else []), protocol="HTTP/1.1")
            date = (EPOCH + timedelta(seconds=37 * (start_index + k))).strftime("%Y-%m-%dT%H:%M:%SZ")
            rec = w.create_warc_record(p.url, "response", payload=io.BytesIO(p.payload()), http_headers=http,
                                       warc_headers_dict={"WARC-Date": date,
                                                          "WARC-Record-ID": _record_id(p.url, start_index + k)})
            w.write_record(rec)


def write_wet(path: Path, pages: list[Page]) -> None:
    from warcio.warcwriter import WARCWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    tag = __import__("re").compile(r"<[^>]+>")
    with open(path, "wb") as fh:
        w = WARCWriter(fh, gzip=True)
        for k, p in enumerate(pages):
            text = tag.sub("\n", p.html)
            text = "\n".join(ln.strip() for ln in text.splitlines() if ln.strip())
            rec = w.create_warc_record(p.url, "conversion", payload=io.BytesIO(text.encode("utf-8")),
                                       warc_headers_dict={"Content-Type": "text/plain",
                                                          "WARC-Identified-Content-Language": p.lang,
                                                          "WARC-Record-ID": _record_id("wet" + p.url, k),
                                                          "WARC-Date": (EPOCH + timedelta(minutes=k)).strftime(
                                                              "%Y-%m-%dT%H:%M:%SZ")})
            w.write_record(rec)


def truncate_file(src: Path, dst: Path, fraction: float) -> None:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * fraction)])


def corrupt_file(src: Path, dst: Path, fraction: float) -> None:
    """Overwrite a run of bytes in the middle of a compressed file (breaks one deflate member)."""
    data = bytearray(src.read_bytes())
    at = int(len(data) * fraction)
    data[at:at + 64] = bytes((b ^ 0x5A) for b in data[at:at + 64])
    dst.write_bytes(bytes(data))


def dump_records(texts: dict, n: int, rng: random.Random, prefix: str) -> list[dict]:
    langs = sorted(texts)
    recs = []
    for i in range(n):
        lang = langs[i % len(langs)]
        paras = texts[lang]
        s = rng.randrange(0, len(paras) - 3)
        recs.append({"id": f"{prefix}-{i:05d}", "text": "\n\n".join(paras[s:s + rng.randint(1, 3)]),
                     "url": f"https://{prefix}.example.org/{lang}/{i}", "lang": lang,
                     "timestamp": (EPOCH + timedelta(hours=i)).isoformat(),
                     "license": rng.choice(["CC-BY-4.0", "CC0-1.0", None])})
        if prefix == "news" and i % 10 == 3:   # a license off the allow-list
            recs[-1]["license"] = "CC-BY-NC-4.0"
    return recs


def _jsonl_bytes(recs: list[dict], bad_lines: bool) -> bytes:
    lines = [json.dumps(r, ensure_ascii=False).encode("utf-8") for r in recs]
    if bad_lines:
        lines.insert(3, b'{"id": "broken", "text": "unterminated')
        lines.insert(7, b'{"id": "latin1", "text": "caf\xe9"}')
        lines.insert(11, json.dumps({"id": "notext", "body_html": None}).encode())
        lines.insert(13, json.dumps({"id": "emptytext", "text": "   "}).encode())
    return b"\n".join(lines) + b"\n"


def write_wav(path: Path, seconds: float, freq: float, rate: int = 16000) -> None:
    n = int(seconds * rate)
    frames = b"".join(struct.pack("<h", int(12000 * math.sin(2 * math.pi * freq * t / rate))) for t in range(n))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(frames)


SPEECH = [  # file, language, seconds, PyAV encoder, bit rate
    ("speech-en.wav", "en", 40, None, None), ("speech-zh.mp3", "zh", 40, "mp3", 64000),
    ("speech-de.opus", "de", 35, "libopus", 32000), ("speech-fr.m4a", "fr", 30, "aac", 64000),
    ("speech-es.flac", "es", 30, "flac", None),
]


def write_speech(out: Path) -> list[dict]:
    """A few minutes of espeak-ng speech in five languages and five codecs, an MP3 re-encode
    of the English file (a near-duplicate for the audio stage), a silent file and an MP3
    that is garbage bytes (manifest entries with the language they state)."""
    from quality_models.speech import ESPEAK_RATE, encode_file, speech
    from quality_models.speech import write_wav as write_float_wav

    entries = []
    for k, (name, lang, seconds, codec, rate) in enumerate(SPEECH):
        x = speech(lang, seconds, seed=100 + k)
        if codec is None:
            write_float_wav(out / name, x, ESPEAK_RATE)
        else:
            encode_file(out / name, x, ESPEAK_RATE, codec, rate)
        entries.append({"path": name, "license": "CC-BY-4.0", "lang": lang, "dataset": "sample-speech"})
        if name == "speech-en.wav":
            encode_file(out / "speech-en-copy.mp3", x, ESPEAK_RATE, "mp3", 48000)
            entries.append({"path": "speech-en-copy.mp3", "license": "CC-BY-4.0", "lang": lang,
                            "dataset": "sample-speech"})
    write_float_wav(out / "silence.wav", np.zeros(3 * ESPEAK_RATE, np.float32), ESPEAK_RATE)
    (out / "garbage.mp3").write_bytes(bytes(random.Random(5).randrange(256) for _ in range(4096)))
    entries += [{"path": n, "license": "CC-BY-4.0", "dataset": "sample-speech"} for n in ("silence.wav", "garbage.mp3")]
    return entries


def write_media(out: Path) -> list[dict]:
    from PIL import Image

    out.mkdir(parents=True, exist_ok=True)
    write_wav(out / "tone-440.wav", 1.0, 440.0)
    write_wav(out / "tone-880.wav", 2.0, 880.0)
    truncate_file(out / "tone-880.wav", out / "truncated.wav", 0.5)
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out / "red.png")
    grad = Image.linear_gradient("L").resize((128, 96)).convert("RGB")
    grad.save(out / "gradient.jpg", quality=85)
    (out / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00garbage" * 20)
    entries = [{"path": n, "license": "CC0-1.0"} for n in
               ["tone-440.wav", "tone-880.wav", "truncated.wav", "red.png", "gradient.jpg", "broken.png"]]
    entries += write_speech(out)
    from corpora.images import write_image_folder

    entries += [{**e, "path": f"images/{e['path']}"} for e in write_image_folder(out / "images")]
    from corpora.videos import write_video_folder

    entries += [{**e, "path": f"videos/{e['path']}"} for e in write_video_folder(out / "videos")]
    with open(out / "manifest.jsonl", "w") as fh:
        for e in entries:
            fh.write(json.dumps(e) + "\n")
    return entries


def folders_of(out_dir: str | Path) -> dict[str, Path]:
    """{dataset: folder} of a sample written under out_dir."""
    out = Path(out_dir)
    return {"sample-web": out / "warc", "sample-wet": out / "wet", "sample-dumps": out / "dumps",
            "sample-media": out / "media"}


def generate(out_dir: str | Path, n_pages: int = 600, seed: int = 0) -> dict[str, Path]:
    """Write the sample corpus; returns {dataset: folder}. Deterministic for a seed."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    import zstandard

    out = Path(out_dir)
    texts = load_texts()
    rng = random.Random(seed)
    pages = sample_pages(n_pages, seed, texts)
    warc = out / "warc"
    third = math.ceil(len(pages) / 3)
    for k in range(3):
        write_warc(warc / f"crawl-{k:05d}.warc.gz", pages[k * third:(k + 1) * third], k * third)
    extra = sample_pages(60, seed + 1, texts, faults=False)
    write_warc(out / "tmp" / "whole.warc.gz", extra)
    truncate_file(out / "tmp" / "whole.warc.gz", warc / "crawl-truncated.warc.gz", 0.7)
    corrupt_file(out / "tmp" / "whole.warc.gz", warc / "crawl-corrupt.warc.gz", 0.5)
    (out / "tmp" / "whole.warc.gz").unlink()
    (out / "tmp").rmdir()
    write_wet(out / "wet" / "crawl-00000.warc.wet.gz", sample_pages(120, seed + 2, texts, faults=False))
    from corpora.images import crawled_pages

    img_pages, img_responses = crawled_pages(texts, random.Random(seed + 3))
    write_warc(warc / "crawl-images.warc.gz", img_pages + img_responses)

    dumps = out / "dumps"
    dumps.mkdir(parents=True, exist_ok=True)
    (dumps / "books.jsonl").write_bytes(_jsonl_bytes(dump_records(texts, 60, rng, "books"), True))
    with gzip.GzipFile(dumps / "forum.jsonl.gz", "wb", mtime=0) as fh:
        fh.write(_jsonl_bytes(dump_records(texts, 60, rng, "forum"), False))
    (dumps / "wiki.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor(level=3).compress(_jsonl_bytes(dump_records(texts, 60, rng, "wiki"), False)))
    news = dump_records(texts, 80, rng, "news")
    pq.write_table(pa.Table.from_pylist(news), dumps / "news.parquet")
    write_media(out / "media")
    return folders_of(out)


def generate_warcs(out_dir: str | Path, n_records: int, n_files: int = 20, seed: int = 0,
                   start: int = 0, distinct: bool = False) -> list[Path]:
    """Benchmark corpus: n_records response records over n_files gzip WARCs, no faults.
    `start` numbers pages (URLs, file names) from there, for later batches of a crawl.
    Pages are runs of 2-5 consecutive sample paragraphs, so most are near-duplicates of
    others; `distinct`: of paragraphs drawn at random from their language's, so few are."""
    out = Path(out_dir)
    texts = load_texts()
    rng = random.Random(seed)
    langs = sorted(texts)
    licenses = [None] * 11 + ["CC-BY-4.0"] * 5 + ["CC-BY-SA-4.0"] * 2 + ["CC0-1.0"] * 2
    per = math.ceil(n_records / n_files)
    paths = []
    for f in range(n_files):
        lo, hi = start + f * per, start + min(n_records, (f + 1) * per)
        pick = (lambda paras: rng.sample(paras, min(12, len(paras)))) if distinct else (lambda paras: paras)
        pages = [make_page(i, langs[i % len(langs)], pick(texts[langs[i % len(langs)]]), rng, rng.random() < 0.2,
                           rng.choice(licenses)) for i in range(lo, hi)]
        p = out / f"bench-{lo:08d}.warc.gz"
        write_warc(p, pages, lo)
        paths.append(p)
    return paths
