"""Labelled text for the quality classifier, built from what the project ships.

Positives (`hq`): coherent reference prose, runs of 1-4 consecutive paragraphs of the
shipped sample texts (Debian Installation Guide, 19 languages). Negatives (`lq`): the
boilerplate-heavy web text that survives extraction, generated from templates in English
and Chinese (menus, cookie and legal notices, share bars, link lists, SEO keyword
stuffing, product listings, comment spam) and, so that the model learns coherence rather
than language, scrambled versions of the same positive texts in every language (shuffled
words cut into menu-like fragments). Deterministic for a seed.
"""
from __future__ import annotations

import random
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


def examples(seed: int = 0, per_language: int = 60) -> list[tuple[str, str]]:
    """[(label, text)] with labels 'hq' and 'lq', shuffled."""
    rng = random.Random(seed)
    texts = load_texts()
    out: list[tuple[str, str]] = []
    for lang in sorted(texts):
        paras = texts[lang]
        for _ in range(per_language):
            s = rng.randrange(0, len(paras))
            out.append(("hq", "\n\n".join(paras[s:s + rng.randint(1, 4)])))
            out.append(("lq", _scrambled(paras, rng)))
    for _ in range(len(texts) * per_language):
        out.append(("lq", _boilerplate(rng)))
    rng.shuffle(out)
    return out
