"""Labelled text for the quality classifier: several kinds of good text against the junk that
real web pages are made of, with a held-out set from sources the training never sees.

Positives (`hq`), each source capped so none dominates: the shipped sample texts (Debian
Installation Guide, 19 languages, runs of 1-4 paragraphs) and, from what Debian ships
(quality_models/debian_docs.py, fetched once per machine), the Administrator's Handbook (~25
languages), the Debian Reference (9), the Python 3.11 documentation (code-bearing prose) and
the licence texts; each page extracted and normalized the clean stage's way, taken whole and
as a window of paragraphs. Negatives (`lq`): junk pages built per language from those
sources' own headings, sentences and words (navigation, link directories, cookie and login
walls, keyword spam, price lists, placeholder text), template boilerplate in English and
Chinese (menus, legal notices, share bars, SEO stuffing, comment spam) and, so the model
learns coherence rather than vocabulary, the good texts scrambled.

Held out (never trained on): the Developer's Reference (5 languages), the Debian FAQ and
fortune cookies (7 languages) as `hq`, and three junk kinds (teaser lists, hashtag spam,
number dumps) built from those sources as `lq`. The model's JSON reports precision/recall on
them, so a classifier that only recognises its training domain shows it there.

The corpus is built once per version of this recipe (a hash of this module's and
debian_docs.py's source) into the models dir; the model's version is a hash of the corpus
and the training parameters. Deterministic for a seed and the Debian packages fetched.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import random
import sys
from pathlib import Path

TEXTS_DIR = Path(__file__).resolve().parents[1] / "data" / "sample" / "texts"

def _text_files(texts_dir: Path) -> list[tuple[str, str]]:
    """(stem, text) of the *.txt files of a folder, or of that folder inside the zip the code
    was shipped in (spark-submit --py-files)."""
    s = str(texts_dir)
    if ".zip/" in s and not texts_dir.exists():
        import zipfile

        archive, inner = s.split(".zip/", 1)
        with zipfile.ZipFile(archive + ".zip") as z:
            return [(Path(n).stem, z.read(n).decode("utf-8")) for n in sorted(z.namelist())
                    if n.startswith(inner.rstrip("/") + "/") and n.endswith(".txt")]
    return [(p.stem, p.read_text(encoding="utf-8")) for p in sorted(texts_dir.glob("*.txt"))]


def load_texts(texts_dir: Path = TEXTS_DIR) -> dict[str, list[str]]:
    """language code -> paragraphs."""
    out = {}
    for stem, text in _text_files(Path(texts_dir)):
        paras = [ln.strip() for ln in text.splitlines() if ln.strip()]
        if paras:
            out[stem] = paras
    if not out:
        raise FileNotFoundError(f"no sample texts under {texts_dir}")
    return out


MENU = ["Home", "News", "About us", "Contact", "Products", "Blog", "Log in", "Sign up", "Shop", "FAQ", "Careers",
        "首页", "新闻", "关于我们", "联系我们", "产品中心", "登录", "注册", "下载", "帮助"]
LEGAL = ["We use cookies to improve your experience. Accept all cookies?", "All rights reserved.",
         "Privacy policy | Terms of use | Cookie settings", "By continuing you agree to our terms.",
         "本网站使用 Cookie。继续浏览即表示同意。", "版权所有 © 2026 保留所有权利", "隐私政策 | 使用条款",
         "Subscribe to our newsletter for the latest deals!", "Click here to read more »",
         "Share: Facebook Twitter Email",
         "点击这里查看更多", "分享到：微博 微信 QQ空间", "Advertisement", "Loading...", "Read more...", "Back to top"]
SPAM_EN = ["cheap", "best", "buy", "online", "free", "discount", "shoes", "watches", "casino", "bonus", "loan", "deal"]
SPAM_ZH = ["免费", "下载", "最新", "高清", "在线", "观看", "优惠", "代理", "赚钱", "官网", "破解", "彩票"]
PRODUCTS = ["Item {n} - ${p}.99 - In stock - Add to cart", "商品编号 {n} ￥{p}.00 立即购买 加入购物车",
            "SKU {n} | {p} reviews | Free shipping", "Great post!!! visit my site {n}", "沙发 {n} 楼 顶顶顶"]


def _boilerplate(rng: random.Random) -> str:
    lines = []
    for _ in range(rng.randint(4, 14)):
        kind = rng.random()
        if kind < 0.25:
            lines.append(" | ".join(rng.sample(MENU, rng.randint(3, 7))))
        elif kind < 0.5:
            lines.append(rng.choice(LEGAL))
        elif kind < 0.7:
            words = SPAM_ZH if rng.random() < 0.4 else SPAM_EN
            lines.append((" " if words is SPAM_EN else "").join(rng.choice(words) for _ in range(rng.randint(6, 20))))
        else:
            lines.append(rng.choice(PRODUCTS).format(n=rng.randint(100, 99999), p=rng.randint(1, 999)))
    return "\n".join(lines)


def _scrambled(paras: list[str], rng: random.Random) -> str:
    text = " ".join(rng.sample(paras, min(len(paras), 2)))
    tokens = text.split() if " " in text else list(text)
    rng.shuffle(tokens)
    cut, out, i = (" " if " " in text else ""), [], 0
    while i < len(tokens) and len(out) < 12:
        n = rng.randint(2, 6)
        out.append(cut.join(tokens[i:i + n]))
        i += n
    extra = [rng.choice(LEGAL) for _ in range(rng.randint(0, 3))]
    return "\n".join(out + extra)


TRAIN_SOURCES = {"installation-guide": 600, "debian-handbook": 450, "debian-reference": 360, "python-docs": 180,
                 "licenses": 60}                           # source -> at most this many documents
HELDOUT_SOURCES = {"developers-reference": 150, "debian-faq": 150, "fortunes": 150}
TRAIN_JUNK = ("nav", "directory", "wall", "spam", "prices", "placeholder")
HELDOUT_JUNK = ("teasers", "hashtags", "numbers")
# Not trained on: "template" pages (two real sentences repeated 6-20 times) average to the same
# bag of n-grams as the sentences once, which no fastText model can tell apart; the Gopher
# repetition rules drop them (bench/clean_eval.py).
PER_GROUP = 40                                             # pages drawn per (source, language)


def _window(paras: list[str], rng: random.Random, min_chars: int = 300) -> str:
    """Consecutive paragraphs from a random start until >= min_chars (or 6 paragraphs)."""
    s = rng.randrange(0, len(paras))
    out: list[str] = []
    for p in paras[s:s + 6]:
        out.append(p)
        if sum(map(len, out)) >= min_chars:
            break
    return "\n\n".join(out)


def _good_texts(seed: int) -> list[dict]:
    """{id, source, lang, text} of the Debian good set, extracted and normalized."""
    from pipelines.clean.extract import extract, normalize
    from quality_models.debian_docs import fetch, good_documents

    docs = good_documents(fetch(), per_group=PER_GROUP, seed=seed)
    out = []
    for d in docs:
        text = normalize(extract(d["content"], d["format"])[1])
        if len(text) >= 200:
            out.append({"id": d["id"], "source": d["source"], "lang": d["lang"], "text": text})
    return out


def _capped(docs: list[dict], caps: dict[str, int], rng: random.Random) -> list[dict]:
    by: dict[str, list[dict]] = {}
    for d in docs:
        if d["source"] in caps:
            by.setdefault(d["source"], []).append(d)
    return [d for src in sorted(by) for d in rng.sample(by[src], min(caps[src], len(by[src])))]


def _junk(docs: list[dict], kinds: tuple[str, ...], n: int, seed: int) -> list[dict]:
    """About n junk pages of `kinds`, built per language from that language's documents, each
    language's share of them its share of the documents (so no language reads as junk)."""
    from quality_models.debian_docs import junk_documents

    by_lang: dict[str, list[str]] = {}
    for d in docs:
        by_lang.setdefault(d["lang"], []).append(d["text"])
    return [{"kind": j["kind"], "lang": lang, "text": j["text"]} for i, lang in enumerate(sorted(by_lang))
            for j in junk_documents(by_lang[lang], n=max(1, round(n * len(by_lang[lang]) / len(docs))),
                                    seed=seed + i, kinds=kinds[i % len(kinds):] + kinds[:i % len(kinds)])]


def build(seed: int = 0) -> dict:
    """{"train": [{label, group, text}], "heldout": [...], "train_ids": [...]}; `group` is the
    source or junk kind. Train is shuffled."""
    rng = random.Random(seed)
    good = _good_texts(seed)
    train_docs = _capped(good, TRAIN_SOURCES, rng)
    held_docs = _capped(good, HELDOUT_SOURCES, rng)
    train: list[dict] = []
    sample = load_texts()
    per_language = TRAIN_SOURCES["installation-guide"] // len(sample)
    for lang in sorted(sample):
        paras = sample[lang]
        for _ in range(per_language):
            s = rng.randrange(0, len(paras))
            train.append({"label": "hq", "group": "installation-guide",
                          "text": "\n\n".join(paras[s:s + rng.randint(1, 4)])})
            train.append({"label": "lq", "group": "scrambled", "text": _scrambled(paras, rng)})
    for d in train_docs:
        paras = d["text"].split("\n\n")
        train.append({"label": "hq", "group": d["source"], "text": d["text"]})
        train.append({"label": "hq", "group": d["source"], "text": _window(paras, rng)})
        if rng.random() < 0.5:
            train.append({"label": "lq", "group": "scrambled", "text": _scrambled(paras, rng)})
    n_hq = sum(e["label"] == "hq" for e in train)
    n_lq = n_hq - sum(e["label"] == "lq" for e in train)
    for _ in range(n_lq // 3):
        train.append({"label": "lq", "group": "boilerplate", "text": _boilerplate(rng)})
    train += [{"label": "lq", "group": j["kind"], "text": j["text"]}
              for j in _junk(train_docs, TRAIN_JUNK, n_lq - n_lq // 3, seed)]
    rng.shuffle(train)
    heldout = [{"label": "hq", "group": d["source"], "text": d["text"]} for d in held_docs]
    heldout += [{"label": "lq", "group": j["kind"], "text": j["text"]}
                for j in _junk(held_docs, HELDOUT_JUNK, len(held_docs), seed)]
    return {"train": train, "heldout": heldout, "train_ids": sorted(d["id"] for d in train_docs)}


def recipe_version(seed: int = 0) -> str:
    """A hash of the code that builds the corpus (this module and the Debian set) and the seed."""
    from quality_models import debian_docs

    src = inspect.getsource(sys.modules[__name__]) + inspect.getsource(debian_docs) + str(seed)
    return hashlib.sha256(src.encode("utf-8")).hexdigest()[:12]


def corpus(seed: int = 0, models: Path | None = None) -> dict:
    """The corpus of this recipe, built on first use into the models dir and read from there after."""
    from quality_models.models import models_dir

    path = Path(models or models_dir()) / f"quality-corpus-{recipe_version(seed)}.json"
    if path.exists():
        return json.loads(path.read_text("utf-8"))
    data = build(seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    os.replace(tmp, path)
    return data
