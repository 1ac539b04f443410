"""Licensed media acquisition with yt-dlp's Python API.

Sources are an allow-list (`crawl.media.sources`): channel, playlist or video URLs, or an
info JSON yt-dlp wrote before (`info_json`, processed without extraction). An item is
downloaded only when its metadata states a licence on `crawl.media.licenses`: yt-dlp's
`license` field is free text set by few extractors (YouTube: "Creative Commons Attribution
license (reuse allowed)", Vimeo: "by-sa"), so `spdx_license` maps the known strings, the raw
string is kept, and an item without one is refused (`license_absent`). `download_archive`
keeps what was fetched from being fetched again; `ratelimit` and `sleep_interval` pace it;
the info JSON and the subtitles are written beside the file. Nothing here logs in, reads
cookies or touches DRM: an item yt-dlp cannot fetch plainly is an error outcome.
"""
from __future__ import annotations

import json
import os
import re
from datetime import UTC, datetime

from pipelines.ingest.decode import normalize_license

_CC_WORDS = [
    (r"\bcc0\b|zero|public domain dedication", "CC0-1.0"),
    (r"public domain mark|\bpdm\b|^public domain$", "PDM-1.0"),
]
_CC_PARTS = [("attribution", "BY"), ("by", "BY"), ("sharealike", "SA"), ("sa", "SA"), ("noncommercial", "NC"),
             ("nc", "NC"), ("noderivatives", "ND"), ("noderivs", "ND"), ("nd", "ND")]


def spdx_license(raw: str | None) -> str | None:
    """An SPDX-style id for yt-dlp's free-text `license`, None when absent or not recognised.
    "Creative Commons Attribution license (reuse allowed)" -> CC-BY (no version stated),
    "by-sa" -> CC-BY-SA, a creativecommons.org URL -> its deed's id."""
    if not raw or not raw.strip():
        return None
    v = raw.strip()
    if "creativecommons.org" in v.lower():
        return normalize_license(v)
    low = v.lower()
    for pat, spdx in _CC_WORDS:
        if re.search(pat, low):
            return spdx
    for a, b in (("creative commons", "cc"), ("share-alike", "sharealike"), ("share alike", "sharealike"),
                 ("non-commercial", "noncommercial"), ("no-derivatives", "noderivatives"), ("no derivatives",
                 "noderivatives"), ("no-derivs", "noderivs")):
        low = low.replace(a, b)
    words = re.findall(r"[a-z]+|\d(?:\.\d)?", low)
    is_cc = "cc" in words or low.startswith(("by", "cc")) or "attribution" in words
    if not is_cc:
        return None
    parts = []
    for w in words:
        for key, tag in _CC_PARTS:
            if w == key and tag not in parts:
                parts.append(tag)
    if not parts or parts[0] != "BY":
        return None
    version = next((w for w in words if re.fullmatch(r"\d(?:\.\d)?", w)), None)
    order = [p for p in ("BY", "NC", "SA", "ND") if p in parts]
    return "CC-" + "-".join(order) + (f"-{version}" if version and "." in version else
                                      f"-{version}.0" if version else "")


def vtt_text(vtt: str) -> str:
    """The spoken text of a WebVTT/SRT file: cue timings, numbers, tags and repeats removed."""
    out, last = [], None
    for line in vtt.splitlines():
        s = line.strip()
        if (not s or s == "WEBVTT" or s.isdigit() or "-->" in s
                or s.startswith(("NOTE", "Kind:", "Language:", "STYLE", "REGION"))):
            continue
        s = re.sub(r"<[^>]+>", "", s).strip()
        if s and s != last:
            out.append(s)
            last = s
    return "\n".join(out)


def allowed(spdx: str | None, allow: list[str]) -> bool:
    """On the allow-list, read as the PII stage's license gate reads `license.allow` (any
    case; `-*` = any or no version)."""
    from pipelines.pii.license import LicensePolicy

    return bool(spdx) and re.match(LicensePolicy(tuple(allow), "reject", "reject").allow_regex, spdx) is not None


class _Log:
    """yt-dlp's logger: errors become outcomes, the rest goes to Python logging."""

    def __init__(self):
        import logging

        self.log = logging.getLogger("lakehouse.yt-dlp")
        self.errors: list[str] = []

    def debug(self, msg):
        if not msg.startswith("[debug] "):
            self.log.debug(msg)

    def info(self, msg):
        self.log.debug(msg)

    def warning(self, msg):
        self.log.info(msg)

    def error(self, msg):
        self.errors.append(msg)
        self.log.warning(msg)


def acquire(sources: list[dict], m: dict, out_dir: str, archive: str, dataset: str, run_id: str) -> list[dict]:
    """Download what the sources offer under a licence on `m["licenses"]` into `out_dir`
    (a local folder). Returns one outcome per item yt-dlp considered (and one per failed
    source): url, status (fetched | rejected), reason, license, license_raw, path,
    info_json, subtitles {lang: text} and the provenance dict bronze.media keeps."""
    import yt_dlp
    from yt_dlp.postprocessor import PostProcessor

    outcomes: dict[str, dict] = {}
    now = lambda: datetime.now(UTC).isoformat()   # noqa: E731

    def key(info) -> str:
        return info.get("webpage_url") or info.get("original_url") or f"{info.get('extractor')}:{info.get('id')}"

    def match(info, *, incomplete):
        if incomplete:
            return None
        raw = info.get("license")
        spdx = spdx_license(raw)
        base = {"url": key(info), "dataset": dataset, "run_id": run_id, "license_raw": raw, "license": spdx,
                "updated_at": now(), "kind": "media"}
        if spdx is None:
            outcomes[base["url"]] = {**base, "status": "rejected",
                                     "reason": "license_absent" if not raw else "license_unrecognized",
                                     "detail": f"licence {raw!r}" if raw else "the item states no licence"}
            return "no recognised licence"
        if not allowed(spdx, m["licenses"]):
            outcomes[base["url"]] = {**base, "status": "rejected", "reason": "license_not_allowed",
                                     "detail": f"licence {spdx} ({raw!r}) is not on crawl.media.licenses"}
            return f"licence {spdx} not allowed"
        if m["max_duration_s"] and (info.get("duration") or 0) > m["max_duration_s"]:
            outcomes[base["url"]] = {**base, "status": "rejected", "reason": "too_long",
                                     "detail": f"{info.get('duration')} s over {m['max_duration_s']}"}
            return "too long"
        return None

    class Record(PostProcessor):
        def run(self, info):
            subs = {}
            for lang, s in (info.get("requested_subtitles") or {}).items():
                p = s.get("filepath")
                if p and os.path.exists(p):
                    with open(p, encoding="utf-8", errors="replace") as fh:
                        subs[lang] = vtt_text(fh.read())
            raw = info.get("license")
            path = info.get("filepath")
            info_json = os.path.splitext(path)[0] + ".info.json" if path else None
            prov = {"license_raw": raw, "license": spdx_license(raw), "uploader": info.get("uploader"),
                    "channel": info.get("channel"), "duration": info.get("duration"), "title": info.get("title"),
                    "source_url": key(info), "extractor": info.get("extractor_key") or info.get("extractor"),
                    "id": info.get("id"), "upload_date": info.get("upload_date"),
                    "info_json": info_json if info_json and os.path.exists(info_json) else None,
                    **{f"subtitles.{k}": v for k, v in subs.items()}}
            outcomes[key(info)] = {"url": key(info), "dataset": dataset, "run_id": run_id, "kind": "media",
                                   "status": "fetched", "reason": None, "detail": None, "license": spdx_license(raw),
                                   "license_raw": raw, "path": path, "lang": info.get("language"),
                                   "content_length": os.path.getsize(path) if path and os.path.exists(path) else None,
                                   "provenance": {k: str(v) for k, v in prov.items() if v is not None},
                                   "fetched_at": now(), "updated_at": now()}
            return [], info

    logger = _Log()
    opts = {
        "outtmpl": os.path.join(out_dir, "%(extractor)s", "%(id)s.%(ext)s"),
        "download_archive": archive, "match_filter": match, "writeinfojson": True,
        "writesubtitles": m["subtitles"], "subtitleslangs": m["subtitle_langs"],
        "format": m["format"], "ratelimit": m["rate_limit_bytes"], "sleep_interval": m["sleep_interval_s"],
        "max_sleep_interval": max(m["sleep_interval_s"], m["max_sleep_interval_s"]),
        "max_filesize": m["max_file_bytes"], "playlistend": m["max_items_per_source"],
        "enable_file_urls": m["enable_file_urls"], "socket_timeout": m["timeout_s"], "retries": m["retries"],
        "ignoreerrors": True, "quiet": True, "noprogress": True, "no_warnings": True, "logger": logger,
        "http_headers": {"User-Agent": m["user_agent"]} if m["user_agent"] else {},
    }
    with yt_dlp.YoutubeDL(opts) as ydl:
        ydl.add_post_processor(Record(), when="after_move")
        for src in sources:
            before = len(logger.errors)
            if src.get("info_json"):
                ydl.download_with_info_file(src["info_json"])
                name = src["info_json"]
            else:
                ydl.download([src["url"]])
                name = src["url"]
            for err in logger.errors[before:]:
                k = f"{name}#error{len(outcomes)}"
                outcomes[k] = {"url": k, "dataset": dataset, "run_id": run_id, "kind": "media", "status": "rejected",
                               "reason": "media_download_error", "detail": err[:1000], "updated_at": now()}
    return list(outcomes.values())


def write_manifest(outcomes: list[dict], existing: str | None) -> str:
    """The ingest manifest (JSONL) of every fetched item: the existing lines plus the new ones."""
    lines = [ln for ln in (existing or "").splitlines() if ln.strip()]
    seen = {json.loads(ln)["path"] for ln in lines}
    for o in outcomes:
        if o["status"] == "fetched" and o.get("path") and o["path"] not in seen:
            lines.append(json.dumps({"path": o["path"], "dataset": o["dataset"], "license": o["license"],
                                     "lang": o.get("lang"), "provenance": o.get("provenance") or {}},
                                    sort_keys=True))
    return "".join(ln + "\n" for ln in lines)
