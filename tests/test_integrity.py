"""Integrity: accounting that can fail, reject ids unique across the lake, the intact copy of a
record kept, failures that fail, bad input rejected in bounded memory, the PII salt."""
from __future__ import annotations

import io
import json
import os
import struct
import zlib

import pytest
from pyspark.sql import functions as F

from corpora.sample import sample_pages, truncate_file, write_warc
from jobs.common.runs import AccountingError
from jobs.ingest import run_ingest


def bad_line_folders(root, names=("a", "b")) -> list[str]:
    """Folders holding a file of the same name, each with one good and one broken line."""
    out = []
    for n in names:
        (root / n).mkdir(parents=True)
        (root / n / "part-00000.jsonl").write_text(json.dumps({"text": f"a good line of folder {n}"}) + "\n{broken\n")
        out.append(str(root / n))
    return out


def test_rejects_of_same_named_files_stay_apart_and_odd_files_are_rejected(lake_at, tmp_path):
    lake, cfg = lake_at(tmp_path / "lake")
    a, b, c = bad_line_folders(tmp_path / "in", ("a", "b", "c"))
    os.mkfifo(os.path.join(a, "pipe.jsonl"))                          # would block forever if opened
    os.symlink(os.path.join(a, "loop.jsonl"), os.path.join(a, "loop.jsonl"))
    os.symlink(tmp_path / "in", os.path.join(b, "up.jsonl"))         # a folder loop if followed
    first = run_ingest(lake.spark, lake, cfg, [a, b], "dumps")
    rej = lake.read("ops.rejects").where("stage = 'ingest'")
    bad = {r.source_record: r.reason for r in rej.collect()}
    assert {k for k, v in bad.items() if v == "bad_json"} == {f"file:{a}/part-00000.jsonl:line=2",
                                                               f"file:{b}/part-00000.jsonl:line=2"}
    assert bad[f"file:{a}/pipe.jsonl"] == bad[f"file:{a}/loop.jsonl"] == bad[f"file:{b}/up.jsonl"] == "unreadable_file"
    assert first["rows_in"] == first["kept"] + first["rejected"] == 2 + 5
    run_ingest(lake.spark, lake, cfg, [c], "dumps")                    # a third same-named file, another run
    assert rej.where("reason = 'bad_json'").count() == 3
    assert rej.select("reject_id").distinct().count() == rej.count()
    files = lake.read("ops.ingest_files").collect()
    assert sum(f.records_kept for f in files) == lake.read("bronze.documents").count() == 3
    assert sum(f.records_rejected for f in files) == rej.count()


def test_a_lost_row_or_a_lost_reject_fails_the_run_and_a_rerun_completes(lake_at, tmp_path, monkeypatch):
    from jobs.common.lake import Lake

    lake, cfg = lake_at(tmp_path / "lake")
    folders = bad_line_folders(tmp_path / "in")
    real = Lake.merge_insert

    def drops_a_row(self, name, df, *a, **kw):
        if name == "bronze.documents":
            df = df.orderBy("doc_id").limit(df.count() - 1)          # a step that loses one row
        return real(self, name, df, *a, **kw)
    monkeypatch.setattr(Lake, "merge_insert", drops_a_row)
    with pytest.raises(AccountingError, match=r"ingest: rows lost: rows_in 4 != kept 1 \+ rejected 2"):
        run_ingest(lake.spark, lake, cfg, folders, "dumps")

    monkeypatch.setattr(Lake, "merge_insert", real)
    done = run_ingest(lake.spark, lake, cfg, folders, "dumps", force=True)   # resumes: some rows were there
    assert done["rows_in"] == 4 and done["kept"] == 2 and done["rejected"] == 2 and done["written"] == 1
    assert lake.read("ops.rejects").count() == 2 and lake.read("bronze.documents").count() == 2

    other, cfg = lake_at(tmp_path / "lake2")

    def writes_no_reject(self, name, df, *a, **kw):
        return 0 if name == "ops.rejects" else real(self, name, df, *a, **kw)
    monkeypatch.setattr(Lake, "merge_insert", writes_no_reject)
    with pytest.raises(AccountingError, match=r"rows_in 4 != kept 2 \+ rejected 0"):
        run_ingest(other.spark, other, cfg, folders, "dumps")
    runs = other.read("ops.runs").where("stage = 'ingest'").collect()
    assert [r.status for r in runs] == ["failed"] and "AccountingError" in runs[0].error


def test_ingest_keeps_the_intact_copy_of_a_record(lake_at, tmp_path):
    """A truncated archive repeating the first records of an intact one: bronze keeps the
    intact file's records, the others are duplicate_record rejects naming them."""
    lake, cfg = lake_at(tmp_path / "lake")
    inbox = tmp_path / "inbox"
    pages = sample_pages(12, seed=5, faults=False)
    write_warc(inbox / "z-intact.warc.gz", pages)
    truncate_file(inbox / "z-intact.warc.gz", inbox / "a-cut.warc.gz", 0.6)   # sorts first by name
    s = run_ingest(lake.spark, lake, cfg, [str(inbox)], "crawl")
    bronze = lake.read("bronze.documents")
    assert {r.source_uri.rsplit("/", 1)[1] for r in bronze.select("source_uri").distinct().collect()} == {
        "z-intact.warc.gz"}
    dups = lake.read("ops.rejects").where("reason = 'duplicate_record'").collect()
    assert dups and all(d.source_uri.endswith("a-cut.warc.gz") and "z-intact.warc.gz" in d.detail for d in dups)
    assert {d.doc_id for d in dups} <= {r.doc_id for r in bronze.select("doc_id").collect()}
    files = {f.file_uri.rsplit("/", 1)[1]: f for f in lake.read("ops.ingest_files").collect()}
    assert files["a-cut.warc.gz"].records_kept == 0
    assert sum(f.records_kept for f in files.values()) == s["kept"] == bronze.count()
    assert sum(f.records_in for f in files.values()) == s["rows_in"]


def test_a_broken_extractor_is_an_error_not_a_reject(monkeypatch):
    """Per page, an extractor exception is extractor_error (within the error budget); an
    ImportError (a broken install) fails the task instead of rejecting every page."""
    from jobs.common.config import load_config
    from jobs.common.runs import ErrorBudgetExceeded, check_error_budget
    from pipelines.clean import refine
    from quality_models.models import lid_path
    from quality_models.quality import model_path

    ctx = refine.context_from_config(load_config("sample"), "r", "v", None, str(lid_path()), str(model_path()))
    rows = [{"doc_id": f"d{i}", "source_uri": "u", "source_record": "r", "dataset": "ds", "license": "x",
             "content_sha256": "s", "parent_ids": [], "ingest_run_id": "i", "url": None, "host": None,
             "fetch_time": None, "content_format": "html", "text": f"<p>page {i}</p>"} for i in range(3)]

    def fails(text, *a):
        raise ValueError("parser gave up")
    monkeypatch.setattr(refine, "extract", fails)
    out = refine.refine_rows(rows, ctx)
    assert {r["reason"] for r in out} == {"extractor_error"} and "ValueError: parser gave up" in out[0]["detail"]

    def not_installed(text, *a):
        raise ModuleNotFoundError("No module named 'resiliparse'")
    monkeypatch.setattr(refine, "extract", not_installed)
    with pytest.raises(ModuleNotFoundError):
        refine.refine_rows(rows, ctx)
    budget = {"share": 0.05, "min_rows": 10}
    check_error_budget("clean", {"extractor_error": 9, None: 1}, 10, budget, ("extractor_error",))   # under min_rows
    check_error_budget("clean", {"extractor_error": 40, None: 960}, 1000, budget, ("extractor_error",))
    with pytest.raises(ErrorBudgetExceeded, match=r"clean: 60 of 1000 records \(6.0%\) failed"):
        check_error_budget("clean", {"extractor_error": 60, None: 940}, 1000, budget, ("extractor_error",))


def png_header(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_media_bombs_and_library_failures(monkeypatch, tmp_path):
    from jobs.common.config import defaults
    from pipelines.ingest import context_from_config, media

    ctx = context_from_config(defaults(), "r", "v")
    row = lambda name, data: media.media_row(f"file:/m/{name}", len(data), 0, "ds", None,  # noqa: E731
                                             lambda: io.BytesIO(data), ctx)
    bomb = row("huge.png", png_header(30000, 30000))
    assert bomb["reason"] == "image_bomb" and bomb["source_record"] == "file:/m/huge.png"
    assert row("cut.png", png_header(64, 64)[:30])["reason"] == "corrupt_media"
    assert media.media_row("file:/m/gone.wav", 0, 0, "ds", None, None, ctx, missing=True)["reason"] == "missing_file"

    def broken(fh):
        raise TypeError("an unexpected internal error")
    monkeypatch.setattr(media, "_probe_mutagen", broken)
    assert row("song.mp3", b"ID3" + b"\0" * 100)["reason"] == "probe_error"

    def gone(fh):
        raise ImportError("No module named 'mutagen'")
    monkeypatch.setattr(media, "_probe_mutagen", gone)
    with pytest.raises(ImportError):
        row("song.mp3", b"ID3" + b"\0" * 100)
    big = tmp_path / "big.wav"                       # hashed in chunks, never read whole into memory
    import wave
    with wave.open(str(big), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(8000)
        w.writeframes(b"\0\1" * 8000 * 30)
    import dataclasses
    small = dataclasses.replace(ctx, inline_media_bytes=1 << 16)
    r = media.media_row(f"file:{big}", big.stat().st_size, 0, "ds", None, lambda: open(big, "rb"), small)
    assert r["reason"] is None and r["duration_s"] == 30 and r["content"] is None and r["size_bytes"] > 1 << 16


class FakeLake:
    def __init__(self, root):
        self.root, self.files = root, {}

    def read_text(self, rel):
        return self.files.get(rel)

    def create_text(self, rel, text):
        if rel in self.files:
            return False
        self.files[rel] = text
        return True


def test_pii_salt_is_made_once_outside_the_lake_and_never_silently_replaced(monkeypatch, tmp_path):
    from pipelines.pii.salt import SaltError, audit_salt, default_file

    monkeypatch.delenv("LAKEHOUSE_PII_SALT", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cfg = {"pii": {"salt_env": "LAKEHOUSE_PII_SALT", "salt_file": None}}
    lake = FakeLake("file:/data/lake")
    salt, where = audit_salt(lake, cfg)
    path = default_file(lake.root)
    assert where == str(path) and path.read_text().encode() == salt and oct(path.stat().st_mode)[-3:] == "600"
    assert audit_salt(lake, cfg) == (salt, where)                         # the same salt next time
    assert "_ops/pii_salt.check" in lake.files and salt.decode() not in lake.files["_ops/pii_salt.check"]
    path.unlink()                                                         # lost: never made again silently
    with pytest.raises(SaltError, match="a new salt would hash the same values differently"):
        audit_salt(lake, cfg)
    monkeypatch.setenv("LAKEHOUSE_PII_SALT", "another")
    with pytest.raises(SaltError, match="is not the one this lake's PII audit hashes were made with"):
        audit_salt(lake, cfg)
    monkeypatch.delenv("LAKEHOUSE_PII_SALT")
    with pytest.raises(SaltError, match=r"lake on s3a:// must be given: set \$LAKEHOUSE_PII_SALT or pii.salt_file"):
        audit_salt(FakeLake("s3a://bucket/lake"), cfg)
    secret = tmp_path / "secret"
    s3_salt, where = audit_salt(FakeLake("s3a://bucket/lake"), {"pii": {**cfg["pii"], "salt_file": str(secret)}})
    assert where == str(secret) and secret.read_text().encode() == s3_salt


def test_unbounded_inputs_are_bounded_in_warc(tmp_path):
    """A WARC record over max_body_bytes is rejected from its Content-Length, before its body
    is read; the records after it are kept."""
    import dataclasses

    from jobs.common.config import defaults
    from pipelines.ingest import context_from_config
    from pipelines.ingest.warc import iter_warc

    ctx = dataclasses.replace(context_from_config(defaults(), "r", "v"), max_body_bytes=1 << 20)
    pages = sample_pages(3, seed=2, faults=False)
    pages[1].body = b"<html><body>" + b"x" * (50 << 20) + b"</body></html>"
    path = tmp_path / "big.warc.gz"
    write_warc(path, pages)
    rows = list(iter_warc(open(path, "rb"), f"file:{path}", "ds", ctx))
    assert [r["reason"] for r in rows] == [None, "too_large"] + [None] * (len(pages) - 2)
    assert "exceeds 1048576" in rows[1]["detail"]


def test_dedup_and_tokenize_count_what_they_wrote(tokenized):
    """Over the sample: every stage's run counted its input and what landed, and they add up."""
    lake, _, _ = tokenized
    runs = lake.read("ops.runs").where("status = 'succeeded'").collect()
    assert {r.stage for r in runs} >= {"ingest", "clean", "dedup", "pii", "tokenize"}
    for r in runs:
        skipped = (r.metrics or {}).get("rows_skipped", 0)
        assert r.rows_in == r.rows_kept + r.rows_rejected + skipped, r.stage
    rej = {r.stage: r["count"] for r in lake.read("ops.rejects").groupBy("stage").count().collect()}
    ok = [r for r in runs if r.stage != "ingest"]
    by_stage = {s: sum(r.rows_rejected for r in ok if r.stage == s) for s in ("clean", "dedup", "pii", "tokenize")}
    assert all(by_stage[s] == rej.get(s, 0) for s in by_stage), (by_stage, rej)
    assert lake.read("ops.rejects").select("reject_id").distinct().count() == lake.read("ops.rejects").count()
    assert lake.read("silver.documents").where(F.col("dup_keep")).count() == sum(
        r.rows_kept for r in ok if r.stage == "dedup")
