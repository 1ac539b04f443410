"""Turning record bodies into text, and reading the license a page states.

Decoding is strict: the charset from a BOM, the HTTP header or the HTML <meta> prescan is
tried, then UTF-8; a body none of them decodes is rejected (`decode_error`) rather than
guessed at, since a wrong guess yields mojibake that no later stage can tell from text.
Legacy labels are widened the way browsers do (WHATWG Encoding Standard): gb2312/gbk ->
gb18030, latin-1/ascii -> cp1252, shift_jis -> cp932, euc-kr -> cp949.
"""
from __future__ import annotations

import codecs
import re

_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:\-]+)""", re.I)
_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "cp936": "gb18030",
    "iso-8859-1": "cp1252", "iso8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252",
    "us-ascii": "cp1252", "ascii": "cp1252", "shift_jis": "cp932", "shift-jis": "cp932",
    "sjis": "cp932", "x-sjis": "cp932", "euc-kr": "cp949", "utf8": "utf-8",
}
_BOMS = [(codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")]


class DecodeError(ValueError):
    pass


def canonical_charset(label: str | None) -> str | None:
    if not label:
        return None
    label = label.strip().strip("\"'").lower()
    label = _ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def sniff_meta_charset(body: bytes) -> str | None:
    m = _META_CHARSET.search(body[:4096])
    return m.group(1).decode("ascii", "ignore") if m else None


def decode_body(body: bytes, header_charset: str | None, is_html: bool) -> tuple[str, str]:
    """Return (text, charset used) or raise DecodeError naming the charsets tried."""
    for bom, enc in _BOMS:
        if body.startswith(bom):
            try:
                return body.decode(enc), enc.replace("-sig", "")
            except UnicodeDecodeError as e:
                raise DecodeError(f"BOM says {enc} but body does not decode: {e.reason}") from None
    candidates = []
    for label in (header_charset, sniff_meta_charset(body) if is_html else None, "utf-8"):
        enc = canonical_charset(label)
        if enc and enc not in candidates:
            candidates.append(enc)
    for enc in candidates:
        try:
            return body.decode(enc), enc
        except UnicodeDecodeError:
            continue
    declared = header_charset or (sniff_meta_charset(body) if is_html else None)
    raise DecodeError(f"body does not decode as {', '.join(candidates)}"
                      + (f" (declared {declared!r})" if declared else " (no charset declared)"))


# -- licenses ------------------------------------------------------------------------------
_REL_LICENSE = re.compile(r"""<(?:link|a)\b[^>]*\brel\s*=\s*["']?[^"'>]*\blicense\b[^>]*>""", re.I)
_HREF = re.compile(r"""href\s*=\s*["']?([^"'\s>]+)""", re.I)
_META_LICENSE = re.compile(
    r"""<meta[^>]+name\s*=\s*["']?(?:license|dc\.rights|dcterms\.license)["']?[^>]*content\s*=\s*["']([^"']+)""", re.I)
_CC = re.compile(r"creativecommons\.org/(licenses|publicdomain)/([a-z\-]+)(?:/(\d(?:\.\d)?))?", re.I)


def normalize_license(value: str | None) -> str | None:
    """Map a license URL or label to an SPDX-like id (CC-BY-4.0, CC0-1.0, ...); None if empty."""
    if value is None:
        return None
    v = str(value).strip()
    if not v:
        return None
    m = _CC.search(v)
    if m:
        kind, name, ver = m.group(1).lower(), m.group(2).lower(), m.group(3)
        if kind == "publicdomain":
            return "CC0-1.0" if name == "zero" else "PDM-1.0"
        return "CC-" + name.upper() + (f"-{ver}" if ver else "")
    low = v.lower().replace("_", "-").replace(" ", "-")
    if low in ("cc0", "cc0-1.0", "cc-zero"):
        return "CC0-1.0"
    if low in ("public-domain", "publicdomain", "pd", "pdm"):
        return "PDM-1.0"
    if low.startswith("cc-"):
        return low.upper()
    return v[:100]


_RDFA_LICENSE = re.compile(
    r"""<[a-z]+\b[^>]*\b(?:property|rel)\s*=\s*["']?[^"'>]*\b(?:cc:license|dct?:license|dcterms:license|"""
    r"""license|dc:rights)\b[^>]*>""", re.I)
_RESOURCE = re.compile(r"""\b(?:href|resource|content|src)\s*=\s*["']([^"']+)""", re.I)
_ANY_CC_LINK = re.compile(r"""<a\b[^>]*href\s*=\s*["']?((?:https?:)?//creativecommons\.org/"""
                          r"""(?:licenses|publicdomain)/[^"'\s>]+)""", re.I)


def license_from_html(html: str) -> str | None:
    """The license a page states, as an SPDX-style id: a rel="license" link, a license <meta>
    (name=license, dc.rights, dcterms.license), Creative Commons RDFa (property="cc:license"
    or dct:license with href/resource/content), else a link to a Creative Commons deed
    anywhere on the page (the footer badge most CC sites carry)."""
    low = html.lower()
    if "licen" not in low and "creativecommons" not in low and "rights" not in low:
        return None
    for tag in _REL_LICENSE.finditer(html):
        href = _HREF.search(tag.group(0))
        if href:
            lic = normalize_license(href.group(1))
            if lic:
                return lic
    m = _META_LICENSE.search(html)
    if m:
        return normalize_license(m.group(1))
    for tag in _RDFA_LICENSE.finditer(html):
        res = _RESOURCE.search(tag.group(0))
        if res and _CC.search(res.group(1)):
            return normalize_license(res.group(1))
    m = _ANY_CC_LINK.search(html)
    return normalize_license(m.group(1)) if m else None


# -- robots meta -----------------------------------------------------------------------------
_META_TAG = re.compile(r"<meta\b[^>]*>", re.I)
_ATTR = re.compile(r"""\b(name|content)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+))""", re.I)
ROBOTS_AGENT = "lakehouse-crawler"


def robots_meta(html: str, agent: str = ROBOTS_AGENT) -> str | None:
    """The tokens of the page's <meta name="robots"> and <meta name=AGENT> (noindex, nofollow,
    noai, ...), lowercased and comma-joined; None when there are none. Only the <head>'s
    first 64 KiB are searched."""
    head = html[:65536]
    low = head.lower()
    if "robots" not in low and agent.lower() not in low:
        return None
    vals = []
    for tag in _META_TAG.finditer(head):
        attrs = {m.group(1).lower(): next(g for g in m.groups()[1:] if g is not None)
                 for m in _ATTR.finditer(tag.group(0))}
        if attrs.get("name", "").strip().lower() in ("robots", agent.lower()) and "content" in attrs:
            vals += [t.strip().lower() for t in attrs["content"].split(",") if t.strip()]
    return ", ".join(dict.fromkeys(vals)) or None
