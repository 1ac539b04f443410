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


def license_from_html(html: str) -> str | None:
    """The license a page states with rel="license" or a license <meta>, if any."""
    if "license" not in html and "License" not in html and "LICENSE" not in html:
        return None
    for tag in _REL_LICENSE.finditer(html):
        href = _HREF.search(tag.group(0))
        if href:
            lic = normalize_license(href.group(1))
            if lic:
                return lic
    m = _META_LICENSE.search(html)
    return normalize_license(m.group(1)) if m else None
