"""The image stage's executor functions (mapInArrow): images -> signals and hashes, images -> tokens.

`measure_fn`: one bronze.media image row -> its signals and pHash+dHash, or a reject
reason (over the bytes, in the scan's partitions). `judge_fn`: the measured rows joined to
their text pairs -> caption language and signals, the rules' decision.
`tokens_fn`: kept representatives -> a gold.tokens row each, encoded in batches by the VQ
model (loaded once per executor). Bytes come from the row when ingest kept them inline,
else from the file, or from the WARC record at source_offset.
"""
from __future__ import annotations

import io
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.clean.rules import Rule, failed
from pipelines.errors import reraise_environment
from pipelines.image.decode import ImageError, decode, hashes, model_input, signals
from pipelines.ingest.streams import UnreadableInput, open_uri

META = ["doc_id", "source_uri", "source_record", "dataset", "license", "content_sha256", "ingest_run_id", "url"]
READ_COLUMNS = META + ["source_offset", "content"]
_META = [(c, pa.string()) for c in META]
MEASURED = pa.schema(_META + [
    ("signals", pa.map_(pa.string(), pa.float64())), ("fingerprint", pa.binary()), ("reason", pa.string()),
    ("detail", pa.string()),
])
IMAGES = pa.schema(_META + [
    ("lang", pa.string()), ("signals", pa.map_(pa.string(), pa.float64())), ("fingerprint", pa.binary()),
    ("text", pa.string()), ("text_source", pa.string()), ("pair_doc_id", pa.string()),
    ("decision", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])
ERROR_REASONS = ("image_error",)      # the library failing, not the file: the error budget
SIGNAL_NAMES = ("width", "height", "min_side", "aspect", "megapixels", "blur", "pixel_std", "uniform_share",
                "caption_chars", "caption_lang_score", "pages")


def read_bytes(row: dict) -> bytes:
    """The image's bytes: inline, from its WARC record, or from its file."""
    if row["content"] is not None:
        return row["content"]
    if row.get("source_offset") is not None and row["source_record"] != row["source_uri"]:
        from pipelines.ingest.warc import read_record

        with open_uri(row["source_uri"], seekable=True) as fh:
            return read_record(fh, row["source_offset"])
    with open_uri(row["source_uri"], seekable=True) as fh:
        return fh.read()


def measure_row(row: dict, max_pixels: int) -> dict:
    """Signals and hashes of one image, or its reject reason."""
    out = {k: row[k] for k in META}
    try:
        d = decode(io.BytesIO(read_bytes(row)), max_pixels, grey=True)
        sig = signals(d)
        fp = hashes(d)
    except ImageError as e:
        return {**out, "reason": e.reason, "detail": str(e)[:500]}
    except (UnreadableInput, FileNotFoundError, PermissionError, ValueError) as e:
        return {**out, "reason": "unreadable_file", "detail": str(e)[:500]}
    except Exception as e:     # the library, not the data: counted against the error budget
        reraise_environment(e)
        return {**out, "reason": "image_error", "detail": f"{type(e).__name__}: {e}"[:500]}
    sig["min_side"] = float(min(d.width, d.height))
    return {**out, "signals": list(sig.items()), "fingerprint": fp}


def measure_fn(max_pixels: int):
    """Pass 1, over the image bytes (in the scan's partitions: the bytes are never shuffled)."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            yield pa.RecordBatch.from_pylist([measure_row(r, max_pixels) for r in batch.to_pylist()],
                                             schema=MEASURED)
    return run


@dataclass(frozen=True)
class JudgeParams:
    lid_model: str            # fastText lid.176 (a path, or a name shipped with SparkContext.addFile)
    lid_chars: int = 500


def judge_fn(p: JudgeParams, rules: list[Rule]):
    """Pass 2, over the small measured rows joined to their text pairs: caption signals and
    language (fastText, one batch per Arrow batch), then the rules."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pipelines.clean.refine import _model_file, identify_languages

        for batch in batches:
            rows = batch.to_pylist()
            captioned = [r for r in rows if r["reason"] is None and r["text"]]
            langs = (identify_languages(_model_file(p.lid_model), [r["text"] for r in captioned], p.lid_chars)
                     if captioned else [])
            score = {id(r): s for r, (_, s) in zip(captioned, langs)}
            for r, (lang, _) in zip(captioned, langs):
                r["lang"] = lang
            for r in rows:
                r.setdefault("lang", None)
                if r["reason"] is not None:
                    r.update(decision="rejected", signals=[])
                    continue
                sig = dict(r["signals"])
                sig.update(caption_chars=float(len(r["text"] or "")), caption_lang_score=float(score.get(id(r), 0.0)),
                           pages=float(r["pages"] or 0))
                bad = failed(rules, sig, r["lang"])
                r.update(signals=list(sig.items()), decision="rejected" if bad else "kept",
                         reason=bad[0] if bad else None, detail=", ".join(bad) if bad else None)
            yield pa.RecordBatch.from_pylist(rows, schema=IMAGES)
    return run


# -- tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenParams:
    tokenizer: dict               # image.tokenizer
    folder: str                   # the VQ model's folder, resolved on the driver
    manifest: dict                # the vocabulary manifest
    max_pixels: int


TOKENS = pa.schema([("doc_id", pa.string()), ("tokens", pa.list_(pa.int32())), ("n_tokens", pa.int64()),
                    ("tokenizer", pa.string()), ("encode_s", pa.float64()), ("reason", pa.string()),
                    ("detail", pa.string())])


def layout(codes: np.ndarray, start: int, specials: dict, row_markers: bool) -> np.ndarray:
    """<|image_start|> codes (row-major; <|row_end|> after each row if asked) <|image_end|>."""
    ids = codes.astype(np.int64) + start
    if row_markers:
        ids = np.concatenate([ids, np.full((ids.shape[0], 1), specials["<|row_end|>"])], axis=1)
    return np.concatenate([[specials["<|image_start|>"]], ids.ravel(), [specials["<|image_end|>"]]]).astype(np.int32)


def _encode(vq, pending: list, layout_args: tuple, name: str) -> list[dict]:
    """Token rows of (doc_id, 256x256x3 array) pairs, one forward pass."""
    t0 = time.perf_counter()
    codes = vq.encode([x for _, x in pending])
    share = (time.perf_counter() - t0) / len(pending)
    rows = []
    for (doc_id, _), c in zip(pending, codes):
        ids = layout(c, *layout_args)
        rows.append({"doc_id": doc_id, "tokens": ids.tolist(), "n_tokens": int(ids.size), "tokenizer": name,
                     "encode_s": share})
    return rows


def tokens_fn(tp: TokenParams):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from tokenize_jobs.audio import device_of
        from tokenize_jobs.image_vq import load_vq

        t = tp.tokenizer
        vq = load_vq(tp.folder, t["checkpoint_sha256"], device_of(t["device"]))
        args = (tp.manifest["ranges"]["image"]["start"], tp.manifest["special_tokens"], t["row_markers"])
        name = f"{vq.version}-{t['size']}{t['resize']}"
        for batch in batches:
            out, pending = [], []
            for row in batch.to_pylist():
                try:
                    d = decode(io.BytesIO(read_bytes(row)), tp.max_pixels)
                    pending.append((row["doc_id"], np.asarray(model_input(d, t["size"], t["resize"]))))
                except ImageError as e:
                    out.append({"doc_id": row["doc_id"], "reason": e.reason, "detail": str(e)[:500]})
                except (UnreadableInput, FileNotFoundError, PermissionError, ValueError) as e:
                    out.append({"doc_id": row["doc_id"], "reason": "unreadable_file", "detail": str(e)[:500]})
                if len(pending) >= t["batch"]:
                    out += _encode(vq, pending, args, name)
                    pending = []
            if pending:
                out += _encode(vq, pending, args, name)
            yield pa.RecordBatch.from_pylist(out, schema=TOKENS)
    return run
