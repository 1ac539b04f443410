"""Opening input files on executors, and decompression that notices broken archives.

fastwarc (and gzip readers in general) stop silently at a truncated gzip member, which
would lose the records behind it without a trace. `Decompressed` decodes multi-member
gzip and zstd itself, and afterwards says whether the input ended cleanly (`truncated`,
`error`), and maps each member's start in the output to its offset in the compressed file
(the offset a range read needs: one WARC record per gzip member is the usual layout).
"""
from __future__ import annotations

import io
import os
import stat
import zlib
from urllib.parse import urlsplit

import zstandard

from pipelines.uris import local_path

CHUNK = 1 << 20
OUT_MAX = 4 << 20       # gzip output of one decoding step, at most
ZSTD_IN = 1 << 10       # zstd input of one decoding step


class UnreadableInput(OSError):
    """An input file that cannot be opened (missing, no permission, unsupported scheme)."""


def _s3_filesystem():
    from pyarrow import fs

    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    kw = {}
    if endpoint:
        parts = urlsplit(endpoint)
        kw = {"endpoint_override": parts.netloc, "scheme": parts.scheme or "https"}
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if region:
        kw["region"] = region
    return fs.S3FileSystem(**kw)  # credentials: the AWS SDK's default chain


def open_uri(uri: str, seekable: bool = False):
    """Binary file object for a local path, file:, s3a:/s3: or any pyarrow-supported URI."""
    path = local_path(uri)
    try:
        if path is not None:
            mode = os.stat(path).st_mode     # never open a FIFO or a device: it would block or never end
            if not stat.S_ISREG(mode):
                kind = "directory" if stat.S_ISDIR(mode) else "FIFO" if stat.S_ISFIFO(mode) else "special file"
                raise UnreadableInput(f"cannot open {uri}: not a regular file ({kind})")
            return open(path, "rb", buffering=CHUNK)
        scheme = urlsplit(uri).scheme
        if scheme in ("s3a", "s3", "s3n"):
            fs, key = _s3_filesystem(), uri.split("://", 1)[1]
        else:
            from pyarrow import fs as pafs
            fs, key = pafs.FileSystem.from_uri(uri)
        # compression=None: pyarrow would otherwise gunzip by extension, hiding truncation from Decompressed
        return fs.open_input_file(key) if seekable else fs.open_input_stream(key, compression=None)
    except UnreadableInput:
        raise
    except (OSError, ValueError) as e:
        raise UnreadableInput(f"cannot open {uri}: {e}") from e


MAGIC = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


SUFFIXES = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


def named_compression(uri: str) -> str | None:
    """The compression a file's name claims (.gz, .zst), to check against its magic bytes."""
    return next((kind for suffix, kind in SUFFIXES.items() if uri.lower().endswith(suffix)), None)


def sniff_compression(head: bytes) -> str | None:
    """gzip / zstd from the first bytes of a file (extensions lie more often than magic does)."""
    for magic, kind in MAGIC.items():
        if head.startswith(magic):
            return kind
    return None


class Decompressed(io.RawIOBase):
    """Read-only stream of the decompressed bytes of a multi-member gzip/zstd (or plain) file;
    the compression is recognised from the magic bytes. Memory stays bounded whatever the
    compression ratio (a gzip bomb): one step produces at most OUT_MAX bytes of gzip output,
    or decodes ZSTD_IN bytes of zstd input (zstd's decoder has no output limit; 1 KiB expands
    to ~23 MB at its worst ratio)."""

    def __init__(self, raw):
        self.raw = raw
        head = raw.read(4)
        self.compression = sniff_compression(head)
        self.error: str | None = None     # the input was corrupt at `comp_pos`
        self.truncated = False            # the input ended inside a member
        self.comp_pos = 0                 # compressed bytes consumed by finished/current members
        self.out_pos = 0                  # decompressed bytes produced
        self.member_starts: dict[int, int] = {0: 0}  # decompressed offset -> compressed offset
        self._buf, self._off = b"", 0     # decompressed bytes not read yet: _buf[_off:]
        self._pending = head
        self._fed = 0                     # bytes consumed by the current member
        self._d = self._new_decoder()

    def mismatch(self, uri: str) -> str | None:
        """Why the file is not what its name says (named .gz but not gzip, ...), or None."""
        named = named_compression(uri)
        if named and self.compression != named:
            return f"named {uri.rsplit('.', 1)[-1]} but its bytes are {self.compression or 'not compressed'}"
        return None

    def _new_decoder(self):
        if self.compression == "gzip":
            return zlib.decompressobj(31)
        if self.compression == "zstd":
            return zstandard.ZstdDecompressor().decompressobj()
        return None

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def tell(self) -> int:
        return self.out_pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Forward-only: fastwarc asks for its position and skips ahead; both are served."""
        target = offset if whence == io.SEEK_SET else self.out_pos + offset if whence == io.SEEK_CUR else None
        if target is None or target < self.out_pos:
            raise io.UnsupportedOperation("Decompressed streams only seek forward")
        while self.out_pos < target:
            if not self.read(min(target - self.out_pos, CHUNK)):
                break
        return self.out_pos

    def _step(self, chunk: bytes) -> tuple[bytes, bytes]:
        """Decode some of `chunk`: (output, input left over)."""
        if self.compression == "gzip":
            out = self._d.decompress(chunk, OUT_MAX)
            # at a member's end zlib puts the rest in unused_data (and may leave it in unconsumed_tail too)
            left = b"" if self._d.eof else self._d.unconsumed_tail
        else:
            piece, left = chunk[:ZSTD_IN], chunk[ZSTD_IN:]
            out = self._d.decompress(piece)
        self._fed += len(chunk) - len(left)
        return out, left

    def _fill(self) -> None:
        while self._off >= len(self._buf):
            chunk = self._pending or self.raw.read(CHUNK)
            self._pending = b""
            if not chunk:
                if self._d is not None and self._fed and not self._d.eof:
                    self.truncated = True
                return
            if self._d is None:
                self._buf, self._off = chunk, 0
                return
            try:
                out, left = self._step(chunk)
            except (zlib.error, zstandard.ZstdError) as e:  # corrupt data
                self.error = f"{type(e).__name__}: {e}"
                return
            if self._d.eof:
                rest = self._d.unused_data
                self.comp_pos += self._fed - len(rest)
                self._fed = 0
                self._d = self._new_decoder()
                self.member_starts[self.out_pos + len(out)] = self.comp_pos
                left = rest + left
            self._buf, self._off, self._pending = out, 0, left

    def readinto(self, b) -> int:
        if self.error:
            return 0
        self._fill()
        n = min(len(b), len(self._buf) - self._off)
        b[:n] = self._buf[self._off:self._off + n]
        self._off += n
        self.out_pos += n
        return n

    def compressed_offset(self, out_offset: int) -> int | None:
        """Compressed offset of the member that starts at this decompressed offset, if any."""
        if self.compression is None:
            return out_offset
        return self.member_starts.get(out_offset)

    def close(self) -> None:
        try:
            self.raw.close()
        finally:
            super().close()
