"""Real, good multilingual documentation and prose from what Debian ships, and the boilerplate
and junk that web pages are made of around such text: the quality classifier's training text
(training_data.py) and the evaluation set of the clean and quality benchmarks.

Good documents (none from the sample's source, the Installation Guide): the Debian
Administrator's Handbook (HTML, ~25 languages), the Debian Reference (9 languages), the
Developer's Reference (5), the Debian FAQ, the Python 3.11 documentation (code-heavy prose),
fortune cookies in 7 languages (groups of consecutive fortunes) and the licence texts in
base-files. Packages come from the Debian archive with `apt-get download` and are unpacked
with `dpkg-deb -x` (nothing installed); indexes, search and table-of-contents pages are left
out: they are navigation, not prose. Plain-text sources are served inside generated page chrome
(menus, cookie banner, share bar, related links, footer) so the extractor is part of the test.

Negatives are generated from the good set's own headings, sentences and words, one kind per
page: navigation menus, link directories, cookie and login walls, keyword spam, template
repetition, price lists, teaser lists, hashtag spam, placeholder pages and number dumps.

    python -m quality_models.debian_docs [DEST]    # fetch and unpack (default: default_dir())

The packages are fetched once per machine into ~/.cache/lakehouse/debian-docs (outside the
clone, like pip's and Maven's caches; LAKEHOUSE_DEBIAN_DOCS moves it): the quality classifier
trains on them (`make setup`) and the clean and quality benchmarks read them.
"""
from __future__ import annotations

import os
import random
import re
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = (["debian-handbook", "debian-faq", "python3.11-doc", "base-files", "developers-reference"]
            + [f"debian-reference-{x}" for x in ("en", "de", "fr", "es", "it", "ja", "pt", "zh-cn", "id")]
            + [f"developers-reference-{x}" for x in ("de", "fr", "ja", "ru")]
            + ["fortunes", "fortunes-de", "fortunes-es", "fortunes-it", "fortunes-ru", "fortunes-zh", "fortunes-br"])
NOT_PROSE = re.compile(r"(^|/)(index|genindex[^/]*|search|contents|py-modindex|copyright|bugs|download)\.html$")


def default_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_DEBIAN_DOCS", Path.home() / ".cache" / "lakehouse" / "debian-docs"))


def fetch(dest: str | Path | None = None) -> Path:
    """The packages' files unpacked under DEST/root (downloads kept in DEST/debs)."""
    dest = Path(dest or default_dir())
    debs, root = dest / "debs", dest / "root"
    debs.mkdir(parents=True, exist_ok=True)
    have = {p.name.split("_")[0] for p in debs.glob("*.deb")}
    missing = [p for p in PACKAGES if p not in have]
    if missing:
        if not shutil.which("apt-get"):
            raise RuntimeError(f"apt-get not found: the Debian documentation packages ({', '.join(missing)}) "
                               "that the quality classifier trains on come from Debian's archive. Train it where "
                               "apt-get works (`make setup`) and copy ~/.cache/lakehouse/models here, or set "
                               "clean.quality.model to a trained model file")
        got = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True, text=True)
        if got.returncode:          # no package lists yet on a fresh machine
            sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
            subprocess.run([*sudo, "apt-get", "update", "-q"], check=True, capture_output=True)
            got = subprocess.run(["apt-get", "download", *missing], cwd=debs, capture_output=True, text=True)
        if got.returncode:
            raise RuntimeError(f"apt-get download {' '.join(missing)} failed: {got.stderr.strip()[-500:]}")
    unpacked = root / ".unpacked"
    names = "\n".join(sorted(p.name for p in debs.glob("*.deb")))
    if not unpacked.exists() or unpacked.read_text() != names:
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        unpacked.write_text(names)
    return root


def _lang_of(name: str) -> str:
    """'pt-BR' -> 'pt', 'zh-cn' -> 'zh', 'brasil' -> 'pt'."""
    return {"brasil": "pt", "br": "pt"}.get(name, name.split("-")[0].split("_")[0].lower())


def _html_docs(root: Path, rng: random.Random, per_group: int) -> list[dict]:
    share = root / "usr" / "share"
    groups: dict[tuple[str, str], list[Path]] = {}
    for p in (share / "doc" / "debian-handbook" / "html").glob("*/*.html"):
        groups.setdefault(("debian-handbook", _lang_of(p.parent.name)), []).append(p)
    for p in (share / "debian-reference").glob("*.html"):
        groups.setdefault(("debian-reference", _lang_of(p.name.split(".")[1])), []).append(p)
    for p in (share / "developers-reference").rglob("*.html"):
        lang = p.parent.name if p.parent.name != "developers-reference" else "en"
        groups.setdefault(("developers-reference", lang), []).append(p)
    for p in (share / "doc" / "debian" / "FAQ").glob("*.en.html"):
        groups.setdefault(("debian-faq", "en"), []).append(p)
    for p in (share / "doc" / "python3.11" / "html").rglob("*.html"):
        if "_static" not in p.parts and "whatsnew" not in p.parts:
            groups.setdefault(("python-docs", "en"), []).append(p)
    docs = []
    for (source, lang), paths in sorted(groups.items()):
        paths = sorted(p for p in paths if not NOT_PROSE.search(p.as_posix()))
        k = per_group * (6 if source == "python-docs" else 1)
        for p in rng.sample(paths, min(k, len(paths))):
            docs.append({"id": f"{source}:{p.relative_to(share)}", "source": source, "lang": lang,
                         "format": "html", "content": p.read_text("utf-8", errors="replace")})
    return docs


def _text_docs(root: Path, rng: random.Random, per_group: int) -> list[dict]:
    share = root / "usr" / "share"
    docs = []
    fortunes = share / "games" / "fortunes"
    for f in sorted(fortunes.rglob("*")):
        if not f.is_file() or f.suffix in (".dat", ".u8") or f.is_symlink() or "off" in f.parts:
            continue
        lang = _lang_of(f.parent.name) if f.parent != fortunes else ("zh" if f.name == "chinese" else "en")
        utf8 = f.with_name(f.name + ".u8")          # the UTF-8 copy where the file itself is Latin-1
        raw = (utf8 if utf8.exists() else f).read_text("utf-8", errors="replace")
        cookies = [c.strip() for c in re.split(r"\n%\n", raw) if c.strip()]
        for i in range(0, len(cookies) - 7, 8):
            docs.append({"id": f"fortunes:{f.relative_to(share)}#{i}", "source": "fortunes", "lang": lang,
                         "format": "text", "content": "\n\n".join(cookies[i:i + 8])})
    fortune_docs = [d for d in docs if d["source"] == "fortunes"]
    docs = rng.sample(fortune_docs, min(len(fortune_docs), per_group * 8))
    for f in sorted((share / "common-licenses").iterdir()):
        if f.is_file() and not f.is_symlink():
            docs.append({"id": f"licenses:{f.name}", "source": "licenses", "lang": "en", "format": "text",
                         "content": f.read_text("utf-8", errors="replace")})
    return docs


def page_chrome(title: str, body_html: str, rng: random.Random) -> str:
    """A boilerplate-heavy page around an article, the way CMS pages look."""
    menu = "".join(f'<li><a href="/{w.lower()}">{w}</a></li>' for w in
                   rng.sample(["Home", "News", "Blog", "Docs", "Forum", "Shop", "About", "Contact", "Help",
                               "Downloads", "Events", "Careers", "Press"], 8))
    related = "".join(f'<li><a href="/p/{i}">{t}</a></li>' for i, t in
                      enumerate(rng.sample(["Ten tips for your server", "Why backups matter", "Upgrading safely",
                                            "Our new release", "Meet the team", "Security notice"], 4)))
    return (f"<html><head><title>{title}</title></head><body>"
            f'<header><nav class="menu"><ul>{menu}</ul></nav><form class="search"><input name=q>'
            f"<button>Search</button></form></header>"
            '<div class="cookie-banner">We use cookies to improve your experience. <a href="/privacy">Privacy '
            "policy</a> <button>Accept all</button></div>"
            f'<main><article><h1>{title}</h1>{body_html}</article></main>'
            '<div class="share">Share this: Facebook Twitter LinkedIn E-mail</div>'
            f'<aside class="related"><h3>Related posts</h3><ul>{related}</ul></aside>'
            "<footer>© 2024 Example Media. All rights reserved. <a href=/terms>Terms of use</a> | "
            "<a href=/privacy>Privacy</a> | <a href=/login>Log in</a></footer></body></html>")


def good_documents(root: str | Path, per_group: int = 30, seed: int = 0) -> list[dict]:
    """{id, source, lang, format: html|text, content} for the good set; plain texts are served as
    HTML pages inside page_chrome."""
    from html import escape

    rng = random.Random(seed)
    root = Path(root)
    docs = _html_docs(root, rng, per_group) + _text_docs(root, rng, per_group)
    for d in docs:
        if d["format"] == "text":
            paras = "".join(f"<p>{escape(p).replace(chr(10), '<br>')}</p>" for p in d["content"].split("\n\n"))
            d["content"], d["format"] = page_chrome(d["id"].split(":")[-1], paras, rng), "html"
    return docs


# -- negatives ---------------------------------------------------------------------------------
def _fragments(texts: list[str]) -> tuple[list[str], list[str], list[str]]:
    """(short headings/link texts, sentences, words) drawn from real text."""
    lines = [ln.strip() for t in texts for ln in t.split("\n") if ln.strip()]
    heads = [ln for ln in lines if 2 <= len(ln.split()) <= 6 and len(ln) <= 50]
    sents = [s for ln in lines for s in re.split(r"(?<=[.!?])\s+", ln) if 6 <= len(s.split()) <= 30]
    words = [w for s in sents for w in re.findall(r"[^\W\d_]{4,}", s)]
    return heads or ["Overview"], sents or ["This is a sentence."], words or ["word"]


KINDS = ("nav", "directory", "wall", "spam", "template", "prices", "teasers", "hashtags", "placeholder", "numbers")


def junk_documents(texts: list[str], n: int = 600, seed: int = 0, kinds: tuple[str, ...] = KINDS) -> list[dict]:
    """{id, kind, text} junk pages built from real fragments (`texts`: extracted good text), the
    `kinds` in turn."""
    rng = random.Random(seed)
    heads, sents, words = _fragments(texts)

    def nav():
        return "\n".join(rng.choice(heads) for _ in range(rng.randint(25, 80)))

    def directory():
        return "\n".join(f"{rng.choice(heads)} » {rng.choice(heads)} ({rng.randint(1, 900)})"
                         for _ in range(rng.randint(20, 60)))

    def wall():
        return "\n".join([rng.choice(["Please log in to continue.", "Sign up for free to read this article.",
                                      "This site uses cookies. By continuing you accept our use of cookies.",
                                      "Subscribe to unlock the full story."]),
                          rng.choice(sents), "Log in", "Sign up", "Privacy policy", "Terms of use",
                          "Forgot your password?", "All rights reserved."])

    def spam():
        kw = rng.sample(words, 3)
        return " ".join(f"{rng.choice(['best', 'cheap', 'buy', 'free', 'top'])} {rng.choice(kw)} {rng.choice(kw)}"
                        for _ in range(rng.randint(60, 200)))

    def template():
        s = rng.sample(sents, 2)
        return "\n\n".join(f"{s[0]} {rng.choice(words).title()} {s[1]}" for _ in range(rng.randint(6, 20)))

    def prices():
        return "\n".join(f"{rng.choice(heads)} - ${rng.randint(1, 999)}.{rng.randint(0, 99):02d} Add to cart"
                         for _ in range(rng.randint(20, 60)))

    def teasers():
        return "\n".join(f"{rng.choice(heads)}\n{rng.choice(sents)[:rng.randint(40, 90)].rstrip()}… Read more"
                         for _ in range(rng.randint(8, 25)))

    def hashtags():
        return " ".join(f"#{rng.choice(words).lower()}" for _ in range(rng.randint(40, 150))) + "\n" + rng.choice(sents)

    def placeholder():
        lorem = ("Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut "
                 "labore et dolore magna aliqua.")
        return "\n\n".join(f"{rng.choice(heads)}\n{lorem}" for _ in range(rng.randint(4, 12)))

    def numbers():
        return "\n".join(" ".join(str(rng.randint(0, 99999)) for _ in range(rng.randint(4, 10)))
                         for _ in range(rng.randint(20, 60)))

    make = {f.__name__: f for f in (nav, directory, wall, spam, template, prices, teasers, hashtags, placeholder,
                                    numbers)}
    return [{"id": f"junk:{i}", "kind": kinds[i % len(kinds)], "text": make[kinds[i % len(kinds)]]()}
            for i in range(n)]


if __name__ == "__main__":
    print(fetch(sys.argv[1] if len(sys.argv) > 1 else None))
