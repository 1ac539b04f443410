"""The <img> elements of an HTML page: what the image stage pairs crawled images with.

Per element: src (else data-src, the lazy-loading convention) resolved against the page's
URL, fragment dropped; alt (else title); the figcaption of an enclosing <figure>. Parsed
with resiliparse (lexbor) only when the body mentions <img; data: URIs are skipped.
"""
from __future__ import annotations

import re
from urllib.parse import urldefrag, urljoin

HAS_IMG = re.compile(r"<img\b", re.I)
MAX_REFS, MAX_TEXT = 200, 1000


def _clean(s: str | None) -> str | None:
    s = " ".join((s or "").split())
    return s[:MAX_TEXT] or None


def image_refs(html: str, base_url: str | None) -> list[dict] | None:
    if not HAS_IMG.search(html):
        return None
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    if tree.body is None:
        return None
    refs = []
    for el in tree.body.query_selector_all("img"):
        src = (el.getattr("src") or el.getattr("data-src") or "").strip()
        if not src or src.startswith("data:"):
            continue
        url = urldefrag(urljoin(base_url or "", src)).url
        fig = el.parent
        while fig is not None and fig.tag != "figure":
            fig = fig.parent
        cap = fig.query_selector("figcaption") if fig is not None else None
        refs.append({"url": url, "alt": _clean(el.getattr("alt") or el.getattr("title")),
                     "caption": _clean(cap.text) if cap is not None else None})
        if len(refs) >= MAX_REFS:
            break
    return refs or None
