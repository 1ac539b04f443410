"""URL normalization and link discovery.

`normalize` is what the frontier is keyed on: RFC 3986 normalization by url-normalize (case,
default ports, percent-encoding, `..` segments), then courlan's tracker stripping (utm_*,
fbclid, ... ; the other query parameters sorted), and no fragment. Two spellings of a page
are one frontier row.
"""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit, urlunsplit

import courlan
from url_normalize import url_normalize


class BadURL(ValueError):
    pass


def normalize(url: str) -> str:
    """The frontier key of a URL; BadURL for what is not an absolute http(s) URL."""
    raw = (url or "").strip()
    if not raw.lower().startswith(("http://", "https://")):
        raise BadURL(f"not an http(s) URL: {raw[:200]!r}")
    try:
        norm = url_normalize(raw)
        cleaned = courlan.clean_url(norm) or norm
        parts = urlsplit(url_normalize(cleaned))
    except (ValueError, UnicodeError) as e:
        raise BadURL(f"{raw[:200]!r}: {e}") from None
    if not parts.hostname:
        raise BadURL(f"no host in {raw[:200]!r}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", parts.query, ""))


def host_key(url: str) -> str:
    """host[:port]: the unit of politeness (one queue, one robots.txt)."""
    return urlsplit(url).netloc.lower()


def robots_url(url: str) -> str:
    p = urlsplit(url)
    return urlunsplit((p.scheme, p.netloc, "/robots.txt", "", ""))


def links(html: str, base: str) -> list[str]:
    """Normalized http(s) targets of the page's <a href> (a <base href> honoured), in order,
    once each; rel="nofollow" links are left out."""
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse(html)
    if tree.document is None:
        return []
    b = tree.document.query_selector("base[href]")
    if b is not None:
        base = urljoin(base, b.getattr("href") or "")
    out, seen = [], set()
    for a in tree.document.query_selector_all("a[href]"):
        if "nofollow" in (a.getattr("rel") or "").lower().split():
            continue
        try:
            u = normalize(urljoin(base, a.getattr("href") or ""))
        except (BadURL, ValueError):
            continue
        if u not in seen:
            seen.add(u)
            out.append(u)
    return out
