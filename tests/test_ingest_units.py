"""Ingest building blocks without Spark: streams, decoding, licenses, readers, task planning."""
from __future__ import annotations

import gzip
import io
import json
import re

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
             Page(url="https://a.example/pdf", lang="", content_type="application/pdf", body=b"%PDF-1.4 x"),
             Page(url="https://a.example/empty", lang="en", body=b"  ")]
    path = tmp_path / "t.warc.gz"
    write_warc(path, pages)
    rows = list(iter_warc(open(path, "rb"), f"file:{path}", "ds", ctx))
    assert [r["reason"] for r in rows] == [None, "http_status", "decode_error", "corrupt_media",
                                           "unsupported_content_type", "empty_body"]
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
    assert rows[0]["license"] == "CC0-1.0" and rows[0]["source_record"] == f"file:{path}:line=1"


def test_bad_lines_are_rejected_in_bounded_memory(tmp_path, ctx):
    """A 40 MB line, JSON nested 100,000 deep, a lone surrogate and a gzip bomb: each one
    reject, read in bounded memory, the records around them kept."""
    import dataclasses
    import resource

    ctx = dataclasses.replace(ctx, max_body_bytes=1 << 20)
    ok = json.dumps({"text": "fine"}).encode()
    body = b"\n".join([ok, b'{"text": "' + b"x" * (40 << 20) + b'"}', b"[" * 100_000 + b"]" * 100_000,
                        b'{"text": "\\ud800 alone"}', ok]) + b"\n"
    path = tmp_path / "bad.jsonl"
    path.write_bytes(body)
    rows = list(iter_jsonl(open(path, "rb"), f"file:{path}", "ds", ctx))
    assert [r["reason"] for r in rows] == [None, "too_large", "bad_json", "decode_error", None]
    assert rows[1]["source_record"] == f"file:{path}:line=2" and "nested too deeply" in rows[2]["detail"]
    assert rows[4]["source_offset"] == len(body) - len(ok) - 1
    bomb = tmp_path / "bomb.jsonl.gz"
    with gzip.open(bomb, "wb", compresslevel=9) as fh:          # 1 GiB of zeros in ~1 MB, one "line"
        for _ in range(1024):
            fh.write(b"0" * (1 << 20))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    rows = list(iter_jsonl(open(bomb, "rb"), f"file:{bomb}", "ds", ctx))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert [r["reason"] for r in rows] == ["too_large"] and "1073741824 bytes" in rows[0]["detail"]
    assert grown_mb < 200, grown_mb


def test_decompressed_output_per_read_is_bounded():
    import zstandard

    for packed in (gzip.compress(b"\0" * (256 << 20)), zstandard.ZstdCompressor().compress(b"\0" * (256 << 20))):
        src = Decompressed(io.BytesIO(packed))
        largest, total = 0, 0
        while chunk := src.read(1 << 16):
            total += len(chunk)
            largest = max(largest, len(src._buf))
        assert total == 256 << 20 and not src.truncated and src.error is None
        assert largest <= 32 << 20, largest
    # a member bigger than one step's output, then another: nothing repeated, nothing lost
    body = bytes(range(256)) * ((9 << 20) // 256)
    src = Decompressed(io.BytesIO(gzip.compress(body, mtime=0) + gzip.compress(b"tail", mtime=0)))
    assert src.read() == body + b"tail" and not src.truncated


def test_listing_never_follows_folder_links_and_never_opens_a_fifo(tmp_path):
    import os

    from pipelines.ingest import _list_local
    from pipelines.ingest.streams import UnreadableInput, open_uri

    root = tmp_path / "in"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.jsonl").write_text('{"text": "x"}\n')
    os.symlink(root, root / "sub" / "loop")              # a folder link back up: a loop if followed
    os.symlink(root / "self", root / "self")              # a link to itself
    os.mkfifo(root / "pipe.jsonl")
    (root / "50%41off.jsonl").write_text('{"text": "y"}\n')
    found = {u.removeprefix(f"file:{root}/"): size for u, size, _ in _list_local(str(root))}
    assert found == {"sub/a.jsonl": 14, "sub/loop": found["sub/loop"], "self": 0, "pipe.jsonl": 0,
                     "50%41off.jsonl": 14}
    for name, why in (("pipe.jsonl", "not a regular file (FIFO)"), ("sub/loop", "not a regular file (directory)"),
                      ("self", "Too many levels of symbolic links")):
        with pytest.raises(UnreadableInput, match=re.escape(why)):
            open_uri(f"file:{root}/{name}")
    with open_uri(f"file:{root}/50%41off.jsonl") as fh:   # the name is never URL-decoded
        assert fh.read() == b'{"text": "y"}\n'


def test_cn_id_check_digit_matches_gb11643():
    # published example ID from GB 11643-1999: 11010519491231002X
    assert cn_id_check_digit("11010519491231002") == "X"
