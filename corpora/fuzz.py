"""A corpus of bad inputs for ingest: every way a file we are handed can be broken.

`write(out)` writes the files (and returns {name: what is wrong with it}) plus a media
manifest; `bench/fault_bench.py` ingests them and checks that the run succeeds, that every
record is in bronze or ops.rejects, and that memory stays bounded. Deterministic.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import socket
import struct
import wave
import zlib
from pathlib import Path

from corpora.sample import sample_pages, truncate_file, write_warc


def _png(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    raw = b"".join(b"\0" + b"\x80" * width for _ in range(height)) if width * height < 1 << 16 else b""
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _wav(seconds: float) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(b"\x10\x00" * int(16000 * seconds))
    return buf.getvalue()


def write(out: str | Path, bomb_gib: int = 1) -> dict[str, str]:
    """Write the fuzz corpus under out/{text,media}; returns {relative path: what is wrong}."""
    out = Path(out)
    text, media = out / "text", out / "media"
    text.mkdir(parents=True, exist_ok=True)
    media.mkdir(parents=True, exist_ok=True)
    rng = random.Random(11)
    cases: dict[str, str] = {}

    def put(path: Path, data: bytes, why: str) -> None:
        path.write_bytes(data)
        cases[str(path.relative_to(out))] = why

    good = sample_pages(8, seed=21, faults=False)
    write_warc(text / "intact.warc.gz", good)
    cases["text/intact.warc.gz"] = "intact WARC (the control)"
    truncate_file(text / "intact.warc.gz", text / "truncated.warc.gz", 0.55)
    cases["text/truncated.warc.gz"] = "gzip WARC cut in the middle of a member"
    data = bytearray((text / "intact.warc.gz").read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    put(text / "corrupt-middle.warc.gz", bytes(data), "gzip WARC with flipped bytes in a member")
    put(text / "garbage.warc.gz", bytes(rng.randrange(256) for _ in range(4096)), "random bytes named .warc.gz")
    put(text / "empty.warc.gz", b"", "zero-byte WARC")
    write_warc(text / "plain.warc", good[:3])
    raw = (text / "plain.warc").read_bytes()
    (text / "plain.warc").write_bytes(raw[: int(len(raw) * 0.7)])
    cases["text/plain.warc"] = "uncompressed WARC cut inside a record"
    big = sample_pages(2, seed=22, faults=False)
    big[0].body = b"<html><body>" + b"y" * (24 << 20) + b"</body></html>"
    write_warc(text / "huge-record.warc.gz", big)
    cases["text/huge-record.warc.gz"] = "a 24 MB record (over ingest.max_body_bytes)"
    put(text / "empty.jsonl", b"", "zero-byte JSONL")
    put(text / "bad-utf8.jsonl", b'{"text": "ok line"}\n{"text": "caf\xe9"}\n', "a line that is not UTF-8")
    put(text / "bom-crlf.jsonl", b'\xef\xbb\xbf{"text": "bom first"}\r\n{"text": "crlf"}\r\n', "BOM and CRLF")
    put(text / "huge-line.jsonl", b'{"text": "' + b"z" * (40 << 20) + b'"}\n{"text": "after"}\n',
        "a 40 MB line")
    put(text / "nested.jsonl", b"[" * 200_000 + b"]" * 200_000 + b'\n{"text": "after"}\n', "JSON nested 200k deep")
    put(text / "surrogate.jsonl", b'{"text": "\\ud800 alone"}\n{"text": "fine", "url": "\\udfff"}\n',
        "lone surrogates in the text and in the url")
    put(text / "wrong-schema.jsonl", b'{"body2": "x"}\n{"text": 42}\n[1, 2]\n"a string"\nnull\n',
        "lines without a text field, a number as text, non-objects")
    put(text / "not-zstd.jsonl.zst", bytes(rng.randrange(256) for _ in range(2048)), "random bytes named .zst")
    import zstandard

    zst = zstandard.ZstdCompressor().compress(b"".join(json.dumps({"text": f"line {i}"}).encode() + b"\n"
                                                       for i in range(2000)))
    put(text / "truncated.jsonl.zst", zst[: len(zst) // 2], "zstd cut in half")
    with gzip.open(text / "bomb.jsonl.gz", "wb", compresslevel=9) as fh:     # GiBs of zeros in ~1 MB per GiB
        for _ in range(bomb_gib * 1024):
            fh.write(b"0" * (1 << 20))
    cases["text/bomb.jsonl.gz"] = f"gzip bomb: {bomb_gib} GiB of one line"
    put(text / "50%41off.jsonl", b'{"text": "a percent sign in the file name"}\n', "a % in the file name")
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"text": [f"row {i}" for i in range(500)]}), text / "whole.parquet")
    whole = (text / "whole.parquet").read_bytes()
    (text / "whole.parquet").unlink()
    put(text / "truncated.parquet", whole[: len(whole) // 2], "Parquet without its footer")
    pq.write_table(pa.table({"title": ["no text column"], "n": [1]}), text / "wrong-schema.parquet")
    cases["text/wrong-schema.parquet"] = "Parquet without a text column"
    put(text / "garbage.parquet", bytes(rng.randrange(256) for _ in range(3000)), "random bytes named .parquet")
    put(text / "notes.docx", b"PK\x03\x04 not a format we read", "an unsupported format")
    os.symlink(text / "loop.jsonl", text / "loop.jsonl")
    cases["text/loop.jsonl"] = "a symlink to itself"
    os.symlink(text / "gone.jsonl", text / "dangling.jsonl")
    cases["text/dangling.jsonl"] = "a dangling symlink"
    (text / "sub").mkdir()
    os.symlink(text, text / "sub" / "up.jsonl")
    cases["text/sub/up.jsonl"] = "a symlink to a parent folder (a loop if followed)"
    os.mkfifo(text / "pipe.jsonl")
    cases["text/pipe.jsonl"] = "a FIFO (opening it would block)"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(text / "sock.jsonl"))
    sock.close()
    cases["text/sock.jsonl"] = "a unix socket"
    locked = text / "locked"
    locked.mkdir()
    (locked / "inside.jsonl").write_text('{"text": "behind a folder without permissions"}\n')
    locked.chmod(0)
    cases["text/locked"] = "a folder without read permission (root reads it anyway)"

    put(media / "bomb.png", _png(30000, 30000), "PNG declaring 30000x30000 pixels")
    put(media / "cut.png", _png(64, 64)[:40], "PNG cut after its header")
    put(media / "ok.png", _png(64, 64), "a valid PNG (the control)")
    put(media / "garbage.jpg", bytes(rng.randrange(256) for _ in range(5000)), "random bytes named .jpg")
    put(media / "cut.wav", _wav(2.0)[:20000], "WAV whose data chunk is cut")
    put(media / "ok.wav", _wav(1.0), "a valid WAV (the control)")
    put(media / "garbage.mp3", bytes(rng.randrange(256) for _ in range(5000)), "random bytes named .mp3")
    put(media / "empty.mp4", b"", "zero-byte MP4")
    put(media / "garbage.webm", bytes(rng.randrange(256) for _ in range(5000)), "random bytes named .webm")
    manifest = [{"path": p.name} for p in sorted(media.iterdir())] + [{"path": "missing.flac"}]
    (media / "manifest.jsonl").write_text("".join(json.dumps(m) + "\n" for m in manifest))
    cases["media/missing.flac"] = "listed in the manifest, not on disk"
    return cases


def unlock(out: str | Path) -> None:
    """Give the locked folder its permissions back (so the corpus can be deleted)."""
    p = Path(out) / "text" / "locked"
    if p.exists():
        p.chmod(0o755)
