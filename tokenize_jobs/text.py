"""Text tokenization on executors: Qwen BPE over Arrow batches, one encoder per process.

The encoder (tiktoken's Rust BPE with Qwen's ranks) encodes a whole Arrow batch with
`encode_batch`; the ids go back to Arrow as one flat int32 buffer plus offsets, with no
per-token Python objects on the way out.
"""
from __future__ import annotations

import functools
import itertools
import json
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

from tokenize_jobs.vocab import TextTokenizer, Vocab

TOKEN_FIELDS = [pa.field("tokens", pa.list_(pa.field("element", pa.int32(), False))), pa.field("n_tokens", pa.int64())]


@functools.lru_cache(maxsize=2)
def _tokenizer(manifest_json: str) -> TextTokenizer:
    return TextTokenizer(Vocab(json.loads(manifest_json)))


def to_list_array(seqs: list[list[int]]) -> pa.ListArray:
    """Python id lists -> Arrow list<int32> via one flat numpy buffer."""
    lengths = np.fromiter((len(s) for s in seqs), np.int64, len(seqs))
    offsets = np.zeros(len(seqs) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    flat = np.fromiter(itertools.chain.from_iterable(seqs), np.int32, int(offsets[-1]))
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat)).cast(TOKEN_FIELDS[0].type)


def output_schema(input_schema):
    """Spark schema of tokenize_fn's output for a Spark input schema."""
    from pyspark.sql.types import ArrayType, IntegerType, LongType, StructField, StructType

    return StructType([f for f in input_schema.fields if f.name != "text"]
                      + [StructField("tokens", ArrayType(IntegerType(), False)), StructField("n_tokens", LongType())])


def tokenize_fn(vocab: Vocab, threads: int = 1):
    """mapInArrow body: batches with a `text` column -> the same columns without `text`, plus
    `tokens` and `n_tokens` (the carried columns pass through untouched)."""
    manifest_json = json.dumps(vocab.manifest, sort_keys=True)

    def run(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        tok = _tokenizer(manifest_json)
        for b in batches:
            texts = [t or "" for t in b.column("text").to_pylist()]
            ids = tok.encode_batch(texts, threads=threads)
            arr = to_list_array(ids)
            n = pa.array([len(s) for s in ids], pa.int64())
            keep = [i for i, name in enumerate(b.schema.names) if name != "text"]
            yield pa.RecordBatch.from_arrays([b.column(i) for i in keep] + [arr, n],
                                             schema=pa.schema([b.schema.field(i) for i in keep] + TOKEN_FIELDS))
    return run
