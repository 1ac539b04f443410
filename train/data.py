"""Training data: the export manifest's shards through megatron-core's dataset builders.

Each shard is a Megatron indexed dataset whose documents are packed sequences of exactly
`seq_length` tokens (tokenize_jobs/pack.py), so GPTDataset with
`add_extra_token_to_sequence=False` yields one packed sequence per sample. Shards are
blended by BlendedMegatronDatasetBuilder with weight = the modality group's mixture weight
x the shard's share of its group's tokens. <|eod|> marks document boundaries: GPTDataset
builds the per-document attention mask (reset_attention_mask) and position ids from it;
the loss on <|pad|> labels is masked, and with document masks so is the prediction made at
an <|eod|> (of the next, unrelated document). A media document cut across sequences is a
run of pieces that each end in <|eod|> and say `<|cont|>` where they join
(tokenize_jobs/pack.py): every piece is its own attention block with positions from 0, so
no piece attends to a document it does not belong to, and its time markers carry the
position in the shot. A manifest on s3a:// or hdfs:// is staged to local disk first.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import torch

from quality_models.models import sha256_file


class DataError(ValueError):
    """An export that the trainer cannot use (missing files, checksum or vocabulary mismatch)."""


@dataclass
class ExportTokenizer:
    """What megatron-core's GPTDataset asks of a tokenizer: ids of eod/pad and an identity."""
    eod: int
    pad: int
    vocab_size: int
    vocab_version: str

    @property
    def unique_identifiers(self) -> dict:
        return {"class": "ExportTokenizer", "vocab_version": self.vocab_version}


def stage(manifest_uri: str, cache: str | None = None) -> str:
    """Copy a manifest on remote storage (s3a://, hdfs://) and its vocabulary and shard files
    to local disk (checksums verified; files already there and matching are kept, so a
    restarted trainer does not download twice); returns the local manifest's path."""
    import pyarrow.fs as pafs

    from pipelines.uris import filesystem, read_bytes

    try:
        raw = read_bytes(manifest_uri)
    except OSError as e:
        raise DataError(f"export manifest {manifest_uri} not found or unreadable (lakehouse export writes it): "
                        f"{e}") from e
    man = json.loads(raw)
    base = manifest_uri.rsplit("/", 1)[0]
    root = os.path.join(cache or os.environ.get("LAKEHOUSE_EXPORT_CACHE")
                        or os.path.expanduser("~/.cache/lakehouse/exports"), man["export_id"])
    os.makedirs(root, exist_ok=True)
    fs, _ = filesystem(base)
    want = [(man["vocab"], man.get("vocab_sha256"))]
    for g in man["groups"].values():
        for s in g["shards"]:
            want += [(s["prefix"] + ".bin", s["bin_sha256"]), (s["prefix"] + ".idx", s["idx_sha256"])]
    for name, digest in want:
        local = os.path.join(root, name)
        if os.path.exists(local) and digest and sha256_file(local) == digest:
            continue
        os.makedirs(os.path.dirname(local), exist_ok=True)
        src = filesystem(f"{base}/{name}")[1]
        part = f"{local}.{os.getpid()}.part"         # ranks on one host may stage at once
        pafs.copy_files(src, part, source_filesystem=fs, destination_filesystem=pafs.LocalFileSystem())
        if digest and sha256_file(part) != digest:
            os.remove(part)
            raise DataError(f"{base}/{name} does not match its checksum in the manifest")
        os.replace(part, local)
    path = os.path.join(root, "manifest.json")
    with open(f"{path}.{os.getpid()}.part", "wb") as f:
        f.write(raw)
    os.replace(f"{path}.{os.getpid()}.part", path)
    return path


def load_export(manifest_path: str, verify: bool = True, cache: str | None = None) -> dict:
    """The manifest, with `root` (its local folder) and `vocab_manifest`; a manifest on remote
    storage is staged to local disk first (stage(), under `cache`)."""
    from pipelines.uris import local_path

    if local_path(manifest_path) is None:
        manifest_path = stage(manifest_path, cache)
    manifest_path = local_path(manifest_path)
    if not os.path.exists(manifest_path):
        raise DataError(f"export manifest {manifest_path} not found (lakehouse export writes it)")
    with open(manifest_path) as f:
        man = json.load(f)
    root = os.path.dirname(os.path.abspath(manifest_path))
    man["root"] = root
    with open(os.path.join(root, man["vocab"])) as f:
        man["vocab_manifest"] = json.load(f)
    if man["vocab_manifest"]["version"] != man["vocab_version"]:
        raise DataError(f"{manifest_path}: vocabulary {man['vocab_manifest']['version']} != {man['vocab_version']}")
    for g in man["groups"].values():
        for s in g["shards"]:
            prefix = os.path.join(root, s["prefix"])
            for ext, key in ((".bin", "bin_sha256"), (".idx", "idx_sha256")):
                if not os.path.exists(prefix + ext):
                    raise DataError(f"shard file {prefix + ext} missing")
                if verify and sha256_file(prefix + ext) != s[key]:
                    raise DataError(f"shard file {prefix + ext} does not match its checksum in the manifest")
    return man


def blend(man: dict) -> tuple[list[str], list[float]]:
    prefixes, weights = [], []
    for g in man["groups"].values():
        for s in g["shards"]:
            if s["n_sequences"]:
                prefixes.append(os.path.join(man["root"], s["prefix"]))
                weights.append(g["weight"] * s["n_tokens"] / g["tokens"])
    total = sum(weights)
    return prefixes, [w / total for w in weights]


def build_datasets(man: dict, seq_length: int, n_samples: int, seed: int, document_masks: bool,
                   cache_dir: str | None = None, dense_mask: bool = True):
    """The training GPTDataset blend with at least n_samples samples. With document_masks,
    position ids restart per document, and with dense_mask each sample also carries
    Megatron's [1, s, s] boolean mask (flex attention builds its own from the position ids)."""
    from megatron.core.datasets.blended_megatron_dataset_builder import BlendedMegatronDatasetBuilder
    from megatron.core.datasets.gpt_dataset import GPTDataset, GPTDatasetConfig

    if seq_length != man["seq_length"]:
        raise DataError(f"trainer seq_length {seq_length} != the export's {man['seq_length']}: re-export or change it")
    tok = ExportTokenizer(man["eod"], man["pad"], man["vocab_size"], man["vocab_version"])
    prefixes, weights = blend(man)
    config = GPTDatasetConfig(
        random_seed=seed, sequence_length=seq_length, blend=(prefixes, weights), split="1,0,0",
        path_to_cache=cache_dir or os.path.join(man["root"], "_megatron_cache"), tokenizer=tok,
        reset_position_ids=document_masks, reset_attention_mask=document_masks, eod_mask_loss=document_masks,
        create_attention_mask=document_masks and dense_mask, add_extra_token_to_sequence=False,
        mmap_bin_files=True)
    train, _, _ = BlendedMegatronDatasetBuilder(GPTDataset, [n_samples, 0, 0], lambda: True, config).build()
    return train


def batch(ds, start: int, size: int, device: str) -> dict:
    """Samples [start, start + size) of the dataset, stacked."""
    items = [ds[i] for i in range(start, start + size)]
    out = {k: torch.stack([torch.as_tensor(it[k]) for it in items]) for k in items[0]}
    if "attention_mask" in out:       # GPTDataset's mask: True where attention is NOT allowed
        out["attention_mask"] = out["attention_mask"].to(torch.bool)
    return {k: v.to(device, non_blocking=True) for k, v in out.items()}


def modality_ids(vocab_manifest: dict, labels: torch.Tensor) -> torch.Tensor:
    """Per label: 0 text, 1 image, 2 audio, 3 video (from the vocabulary's ranges)."""
    from tokenize_jobs.vocab import modality_ranges

    out = torch.zeros_like(labels, dtype=torch.int8)
    for start, end, m in modality_ranges(vocab_manifest):
        out[(labels >= start) & (labels < end)] = m
    return out


def synthetic_export(out_dir: str, vocab_manifest: dict, seq_length: int, n_sequences: int, seed: int = 0) -> str:
    """A throughput-only export of random in-vocabulary tokens with the real layout (manifest,
    vocab.json, one shard), for benchmarks on machines without the lake."""
    from tokenize_jobs.export import write_shard

    rng = np.random.default_rng(seed)
    eod, pad = vocab_manifest["special_tokens"]["<|eod|>"], vocab_manifest["special_tokens"]["<|pad|>"]
    hi = vocab_manifest["ranges"]["text_bpe"]["end"]
    docs = ((f"synthetic-{i}", 0, rng.integers(0, hi, int(rng.integers(200, 3 * seq_length)), dtype=np.int32))
            for i in range(n_sequences * 10))
    os.makedirs(out_dir, exist_ok=True)

    def limited():
        total = 0
        for d in docs:
            yield d
            total += d[2].size + 1
            if total >= n_sequences * seq_length:
                return
    meta = write_shard(os.path.join(out_dir, "text", "text_00000"), limited(), seq_length, eod, pad, 64)
    with open(os.path.join(out_dir, "vocab.json"), "w") as f:
        json.dump(vocab_manifest, f)
    man = {"export_id": "synthetic", "vocab_version": vocab_manifest["version"], "vocab": "vocab.json",
           "seq_length": seq_length, "eod": eod, "pad": pad, "vocab_size": vocab_manifest["size"],
           "groups": {"text": {"weight": 1.0, "tokens": meta["n_tokens"], "shards": [
               {"prefix": "text/text_00000", "bin_sha256": meta["bin_sha256"], "idx_sha256": meta["idx_sha256"],
                "n_sequences": meta["n_sequences"], "n_tokens": meta["n_tokens"]}]}}}
    path = os.path.join(out_dir, "manifest.json")
    with open(path, "w") as f:
        json.dump(man, f)
    return path
