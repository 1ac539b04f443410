"""Ingest building blocks without Spark: streams, decoding, licenses, readers, task planning."""
from __future__ import annotations

import gzip
import io
import json

import pytest

from corpora.sample import Page, cn_id_check_digit, write_warc
from jobs.common.config import defaults
from pipelines.ingest import context_from_config, format_of, plan_tasks
from pipelines.ingest.decode import DecodeError, decode_body, license_from_html, normalize_license
from pipelines.ingest.dumps import iter_jsonl
from pipelines.ingest.streams import Decompressed
from pipelines.ingest.warc import iter_warc


@pytest.fixture
def ctx():
    return context_from_config(defaults(), "run-1", "test")


def test_decompressed_multi_member_offsets_and_clean_end():
    members = [gzip.compress(f"record {i}\n".encode() * 50, mtime=0) for i in range(3)]
    src = Decompressed(io.BytesIO(b"".join(members)))
    data = src.read()
    assert data.count(b"record 1") == 50
    assert not src.truncated and src.error is None
    assert src.compressed_offset(0) == 0
    assert src.compressed_offset(len(b"record 0\n") * 50) == len(members[0])


def test_decompressed_flags_truncation_and_corruption():
    blob = gzip.compress(b"x" * 100_000, mtime=0) + gzip.compress(b"y" * 100_000, mtime=0)
    cut = Decompressed(io.BytesIO(blob[: len(blob) - 40]))
    cut.read()
    assert cut.truncated and cut.error is None
    bad = bytearray(blob)
    bad[20:60] = bytes(40)
    broken = Decompressed(io.BytesIO(bytes(bad)))
    broken.read()
    assert broken.error is not None


def test_decode_body_declared_legacy_and_strict():
    zh = "<html><body>中文网页，编码为 GBK。</body></html>"
    text, enc = decode_body(zh.encode("gbk"), "gb2312", True)
    assert text == zh and enc == "gb18030"
    meta = ('<html><head><meta charset="gbk"></head><body>简体中文</body></html>').encode("gbk")
    assert decode_body(meta, None, True)[0].endswith("简体中文</body></html>")
    assert decode_body("naïve".encode(), None, False) == ("naïve", "utf-8")
    with pytest.raises(DecodeError, match="no charset declared"):
        decode_body("中文".encode("gbk") + b"\xff", None, True)


def test_license_detection_and_normalization():
    html = '<footer><a rel="license" href="http://creativecommons.org/licenses/by-sa/4.0/">x</a></footer>'
    assert license_from_html(html) == "CC-BY-SA-4.0"
    assert license_from_html('<link rel="license" href="https://creativecommons.org/publicdomain/zero/1.0/">') == "CC0-1.0"
    assert license_from_html("<p>no license stated</p>") is None
    assert normalize_license("cc0") == "CC0-1.0"
    assert normalize_license("cc-by-4.0") == "CC-BY-4.0"
    assert normalize_license("") is None


def test_format_of_names():
    assert format_of("a/CC-MAIN-1.warc.gz") == "warc"
    assert format_of("x.warc.wet.gz") == "warc"
    assert format_of("dump.jsonl.zst") == "jsonl"
    assert format_of("part-0.parquet") == "parquet"
    assert format_of("clip.MP4") == "media"
    assert format_of("notes.docx") == "unsupported"


def test_plan_tasks_balances_and_keeps_every_file():
    sizes_mb = [900, 10, 500, 400, 100, 100, 5]
    files = [{"file_uri": f"f{i}", "size_bytes": s << 20} for i, s in enumerate(sizes_mb)]
    bins = plan_tasks(files, 3)
    assert sorted(f["file_uri"] for b in bins for f in b) == sorted(f["file_uri"] for f in files)
    loads = sorted(sum(f["size_bytes"] for f in b) for b in bins)
    assert loads[-1] == 900 << 20  # the largest file alone; the rest spread over the others


def test_warc_reader_rejects_with_reasons(tmp_path, ctx):
    pages = [Page(url="https://a.example/ok", lang="en", html="<html><body><p>fine page</p></body></html>"),
             Page(url="https://a.example/404", lang="en", status=404, html="<html>gone</html>"),
             Page(url="https://a.example/bad", lang="en", body=b"<html>\xff\xfe broken</html>"),
             Page(url="https://a.example/img", lang="", content_type="image/png", body=b"\x89PNG...."),
             Page(url="https://a.example/empty", lang="en", body=b"  ")]
    path = tmp_path / "t.warc.gz"
    write_warc(path, pages)
    rows = list(iter_warc(open(path, "rb"), f"file:{path}", "ds", ctx))
    assert [r["reason"] for r in rows] == [None, "http_status", "decode_error", "unsupported_content_type",
                                           "empty_body"]
    ok = rows[0]
    assert ok["url"] == "https://a.example/ok" and ok["http_status"] == 200 and ok["text"].startswith("<html>")
    assert ok["source_record"].startswith("<urn:uuid:") and ok["source_offset"] > 0
    # the truncated copy: records before the cut land, then a truncation reject
    cut = tmp_path / "cut.warc.gz"
    cut.write_bytes(path.read_bytes()[:-30])
    reasons = [r["reason"] for r in iter_warc(open(cut, "rb"), f"file:{cut}", "ds", ctx)]
    assert reasons[0] is None and reasons[-1] == "truncated_archive"


def test_jsonl_reader_reasons(tmp_path, ctx):
    lines = [json.dumps({"id": "a", "text": "hello", "license": "cc0"}), "{broken", json.dumps({"x": 1}),
             json.dumps([1, 2])]
    path = tmp_path / "d.jsonl.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode() + b'{"text": "caf\xe9"}\n'))
    rows = list(iter_jsonl(open(path, "rb"), f"file:{path}", "ds", ctx))
    assert [r["reason"] for r in rows] == [None, "bad_json", "missing_text", "bad_json", "decode_error"]
    assert rows[0]["license"] == "CC0-1.0" and rows[0]["source_record"] == "d.jsonl.gz:line=1"


def test_cn_id_check_digit_matches_gb11643():
    # published example ID from GB 11643-1999: 11010519491231002X
    assert cn_id_check_digit("11010519491231002") == "X"
