"""The audio stage's executor functions (mapInArrow): files -> segments, segments -> tokens.

`analyze_fn`: one bronze.media audio row -> its segments (signals, fingerprint, the rules'
decision) or one file reject. `tokens_fn`: one file with its kept segments -> a gold.tokens
row per segment (or a reject per segment when the file no longer decodes). Files are
opened from their inline bytes when ingest kept them, else from source_uri (local, s3a:,
...), as a seekable stream: never read whole into memory.
"""
from __future__ import annotations

import hashlib
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from pipelines.audio.analyze import AnalyzeParams, analyze
from pipelines.audio.decode import AudioError, decode
from pipelines.audio.vad import SegmentRule
from pipelines.clean.rules import Rule, failed
from pipelines.errors import reraise_environment
from pipelines.ingest.streams import UnreadableInput, open_uri

FILE_COLUMNS = ["doc_id", "source_uri", "dataset", "license", "content_sha256", "ingest_run_id", "duration_s",
                "lang_hint", "content"]
SEGMENTS = pa.schema([
    ("parent_id", pa.string()), ("doc_id", pa.string()), ("source_uri", pa.string()),
    ("source_record", pa.string()), ("dataset", pa.string()), ("license", pa.string()),
    ("content_sha256", pa.string()), ("ingest_run_id", pa.string()), ("lang", pa.string()),
    ("segment", pa.int32()), ("start_s", pa.float64()), ("end_s", pa.float64()),
    ("signals", pa.map_(pa.string(), pa.float64())), ("fingerprint", pa.binary()),
    ("decision", pa.string()), ("reason", pa.string()), ("detail", pa.string()),
])
ERROR_REASONS = ("audio_error",)      # the library failing, not the file: the error budget
SIGNAL_NAMES = ("duration_s", "speech_ratio", "level_dbfs", "peak_dbfs", "clipping_ratio", "snr_db",
                "silero_ratio", "vad_agreement")


def params_from_config(acfg: dict) -> AnalyzeParams:
    f, v = acfg["file"], acfg["vad"]
    rule = SegmentRule(v["min_silence_s"], v["min_speech_s"], v["target_s"], v["max_s"], v["edge_db"])
    return AnalyzeParams(chunk_s=f["chunk_s"], frame_ms=v["frame_ms"], aggressiveness=v["aggressiveness"],
                         silero=v["silero"], rule=rule, min_sample_rate=f["min_sample_rate"],
                         min_duration_s=f["min_duration_s"], silent_dbfs=f["silent_dbfs"],
                         max_file_clipping=f["max_clipping"], truncated_share=f["truncated_share"])


def open_media(uri: str, content: bytes | None):
    return io.BytesIO(content) if content is not None else open_uri(uri, seekable=True)


def segment_id(parent_id: str, start_s: float, end_s: float) -> str:
    """Content-derived: the file's id (itself from its bytes) and the segment's bounds in ms."""
    key = f"{parent_id}#{round(start_s * 1000)}-{round(end_s * 1000)}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def media_fragment(uri: str, start_s: float, end_s: float) -> str:
    """W3C Media Fragments: <uri>#t=<start>,<end> in seconds."""
    return f"{uri}#t={start_s:.3f},{end_s:.3f}"


def file_reject(row: dict, reason: str, detail: str) -> dict:
    return {"parent_id": row["doc_id"], "doc_id": row["doc_id"], "source_uri": row["source_uri"],
            "source_record": row["source_uri"], "dataset": row["dataset"], "license": row["license"],
            "content_sha256": row["content_sha256"], "ingest_run_id": row["ingest_run_id"],
            "lang": row["lang_hint"], "segment": -1, "start_s": 0.0, "end_s": 0.0, "signals": [],
            "fingerprint": None, "decision": "rejected", "reason": reason, "detail": detail[:500]}


def analyze_row(row: dict, p: AnalyzeParams, rules: list[Rule]) -> list[dict]:
    try:
        with open_media(row["source_uri"], row["content"]) as fh:
            file, segs = analyze(fh, p, row["duration_s"])
    except AudioError as e:
        return [file_reject(row, e.reason, str(e))]
    except (UnreadableInput, FileNotFoundError, PermissionError) as e:
        return [file_reject(row, "unreadable_file", str(e))]
    except Exception as e:     # the library, not the data: counted against the error budget
        reraise_environment(e)
        return [file_reject(row, "audio_error", f"{type(e).__name__}: {e}")]
    return [segment_row(row, s, {k: float(s[k]) for k in SIGNAL_NAMES if k in s}, rules) for s in segs]


def segment_row(row: dict, s: dict, signals: dict, rules: list[Rule]) -> dict:
    """A SEGMENTS row for segment `s` (segment, start_s, end_s, fingerprint) of file `row`,
    with the rules' decision over `signals` (audio segments and video shots alike)."""
    bad = failed(rules, signals, row["lang_hint"])
    return {"parent_id": row["doc_id"], "doc_id": segment_id(row["doc_id"], s["start_s"], s["end_s"]),
            "source_uri": row["source_uri"],
            "source_record": media_fragment(row["source_uri"], s["start_s"], s["end_s"]),
            "dataset": row["dataset"], "license": row["license"], "content_sha256": row["content_sha256"],
            "ingest_run_id": row["ingest_run_id"], "lang": row["lang_hint"], "segment": s["segment"],
            "start_s": s["start_s"], "end_s": s["end_s"], "signals": list(signals.items()),
            "fingerprint": s["fingerprint"], "decision": "rejected" if bad else "kept",
            "reason": bad[0] if bad else None, "detail": ", ".join(bad) if bad else None}


def per_row_fn(fn, *args):
    """A mapInArrow body: `fn(row, *args)` -> SEGMENTS rows, for every row of every batch."""
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        for batch in batches:
            rows = []
            for row in batch.to_pylist():
                rows += fn(row, *args)
            yield pa.RecordBatch.from_pylist(rows, schema=SEGMENTS)
    return run


def analyze_fn(p: AnalyzeParams, rules: list[Rule]):
    return per_row_fn(analyze_row, p, rules)


# -- tokens -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TokenParams:
    codec: dict                   # audio.tokenizer
    manifest: dict                # the vocabulary manifest
    chunk_s: float


TOKENS = pa.schema([("doc_id", pa.string()), ("tokens", pa.list_(pa.int32())), ("n_tokens", pa.int64()),
                    ("tokenizer", pa.string()), ("seconds", pa.float64()), ("encode_s", pa.float64()),
                    ("reason", pa.string()),
                    ("detail", pa.string())])


def cut_segments(src, spans: list[tuple[float, float]], rate: int, chunk_s: float) -> Iterator[tuple[int, np.ndarray]]:
    """(index, samples) of each [start_s, end_s) span (sorted, non-overlapping), cut from one
    streaming decode of the file at `rate`; only the current span's samples are held."""
    want = [(int(round(a * rate)), int(round(b * rate))) for a, b in spans]
    pos, buf, k = 0, np.zeros(0, np.float32), 0
    for (chunk,) in decode(src, (rate,), chunk_s):
        buf = np.concatenate([buf, chunk])
        while k < len(want) and pos + buf.size >= want[k][1]:
            a, b = want[k]
            yield k, buf[a - pos:b - pos].copy()
            k += 1
        drop = min(want[k][0] if k < len(want) else pos + buf.size, pos + buf.size) - pos
        if drop > 0:                           # samples before the next span are not needed again
            buf, pos = buf[drop:], pos + drop
    if k < len(want):      # the stream ended early: what is left of each remaining span
        for j in range(k, len(want)):
            a, b = want[j]
            yield j, buf[max(0, a - pos):max(0, b - pos)].copy()


def tokens_fn(tp: TokenParams):
    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from tokenize_jobs.audio import RATE, Layout, from_config
        from tokenize_jobs.vocab import Vocab

        codec = from_config(tp.codec)
        layout = Layout(Vocab(tp.manifest), tp.codec["codebooks"], tp.codec["marker_s"], codec.frame_rate)
        tokenizer = f"{codec.version}x{tp.codec['codebooks']}"
        levels, most = tp.codec["codebooks"], tp.codec["batch_s"] * RATE

        def flush(pending: list, out: list, done: set) -> None:
            if not pending:
                return
            t0 = time.perf_counter()
            batch = codec.encode_batch([x for _, x in pending], levels)
            share = (time.perf_counter() - t0) / sum(x.size for _, x in pending)    # codec time, by length
            for (doc_id, x), codes in zip(pending, batch):
                ids = layout.ids(codes)
                out.append({"doc_id": doc_id, "tokens": ids.tolist(), "n_tokens": int(ids.size),
                            "tokenizer": tokenizer, "seconds": x.size / RATE, "encode_s": share * x.size})
                done.add(doc_id)
            pending.clear()

        for batch in batches:
            out = []
            for row in batch.to_pylist():
                segs = sorted(row["segments"], key=lambda s: s["start_s"])
                done: set[str] = set()
                pending: list[tuple[str, np.ndarray]] = []
                try:
                    with open_media(row["source_uri"], row["content"]) as fh:
                        for k, x in cut_segments(fh, [(s["start_s"], s["end_s"]) for s in segs], RATE, tp.chunk_s):
                            s = segs[k]
                            if x.size < RATE * 0.1:
                                out.append({"doc_id": s["doc_id"], "reason": "audio_segment_unreadable",
                                            "detail": f"{x.size} samples decoded of the segment"})
                                done.add(s["doc_id"])
                            else:
                                if pending and sum(p.size for _, p in pending) + x.size > most:
                                    flush(pending, out, done)
                                pending.append((s["doc_id"], x))
                        flush(pending, out, done)
                except AudioError as e:     # the segments cut before the error are complete
                    flush(pending, out, done)
                    out += [{"doc_id": s["doc_id"], "reason": e.reason, "detail": str(e)[:500]}
                            for s in segs if s["doc_id"] not in done]
                except (UnreadableInput, FileNotFoundError, PermissionError) as e:
                    flush(pending, out, done)
                    out += [{"doc_id": s["doc_id"], "reason": "unreadable_file", "detail": str(e)[:500]}
                            for s in segs if s["doc_id"] not in done]
            yield pa.RecordBatch.from_pylist(out, schema=TOKENS)
    return run
