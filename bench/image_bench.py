"""Image stage throughput and near-duplicate quality.

    python bench/image_bench.py [--images 10000] [--stage-images 2000] [--neardup 100000] [--cores 2]

Corpus (cached in build/bench-image/): --images distinct ~1 MP JPEGs (1152x864, quality
90, ~250 KB) cut from scikit-image's photographs (random crops, scales, flips, jitter) and
generated images. Measured:
1. one process, one core: decode (draft mode) + signals + pHash/dHash per image;
2. through Spark on local[cores]: ingest of the corpus (inline bytes, header probe) and the
   stage's analyze step alone (decode, signals, hashes, rules, caption LID, MERGE, rejects,
   counts); then the whole `lakehouse image` run on the first --stage-images (near-
   duplicates and tokens with the project tokenizer too), images/s per core;
3. near-duplicate clustering at --neardup images in Spark: hashes of real photographs'
   edited copies are expensive to make 100k times, so the hashes are synthetic: random
   64-bit pHash/dHash with planted clusters whose members differ by the bit flips the real
   edits produce (0-6 bits), timing the banding, verification and components, with
   precision/recall against the planted clusters;
4. what the hashes find and miss per edit (resize, recompression, colour shift, crops of
   10-40%, mirror, 90 degree rotation) on the twelve photographs, at the configured
   thresholds;
5. tokenization, one process, one core (torch threads = 1): the project's VQ and the
   full-size VQGAN-f16 (LlamaGen VQ-16 layout, random weights: speed only), 256x256.
"""
from __future__ import annotations

import argparse
import io
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import bench_config, fresh_lake, save  # noqa: E402

CORPUS = ROOT / "build" / "bench-image"
SIZE = (1152, 864)


def make_corpus(n: int) -> Path:
    """n JPEGs of ~1 MP and their manifest; cached."""
    from PIL import Image

    from corpora.images import encode
    from quality_models.images import PHOTOS, generated, photo, random_crop

    manifest = CORPUS / f"manifest-{n}.jsonl"
    if manifest.exists():
        return manifest
    CORPUS.mkdir(parents=True, exist_ok=True)
    photos = [photo(p) for p in PHOTOS]
    rng = np.random.default_rng(0)
    lines = []
    for k in range(n):
        if k % 5 == 4:
            img = np.asarray(Image.fromarray(generated(432, rng)).resize(SIZE, Image.Resampling.BILINEAR))
        else:
            crop = random_crop(photos[k % len(photos)], 432, rng)
            img = np.asarray(Image.fromarray(crop).resize(SIZE, Image.Resampling.BICUBIC))
        name = f"img-{k:06d}.jpg"
        (CORPUS / name).write_bytes(encode(img, quality=90))
        lines.append(json.dumps({"path": name, "license": "CC0-1.0"}))
    manifest.write_text("\n".join(lines) + "\n")
    return manifest


def one_core(manifest: Path, limit: int = 400) -> dict:
    from pipelines.image.decode import decode, hashes, signals

    files = [CORPUS / json.loads(x)["path"] for x in manifest.read_text().splitlines()[:limit]]
    blobs = [f.read_bytes() for f in files]
    t = {"decode": 0.0, "signals": 0.0, "hashes": 0.0}
    for b in blobs:
        t0 = time.perf_counter()
        d = decode(io.BytesIO(b), 89_478_485, grey=True)       # as the stage's analysis decodes
        t1 = time.perf_counter()
        signals(d)
        t2 = time.perf_counter()
        hashes(d)
        t["decode"] += t1 - t0
        t["signals"] += t2 - t1
        t["hashes"] += time.perf_counter() - t2
    total = sum(t.values())
    return {"images": len(blobs), "mean_kb": round(np.mean([len(b) for b in blobs]) / 1024),
            "images_per_s": round(len(blobs) / total, 1),
            "ms_per_image": {k: round(v / len(blobs) * 1000, 2) for k, v in t.items()}}


def _lake(name: str, cores: int):
    return fresh_lake(ROOT / "build" / name, name, cores)


def subset(manifest: Path, n: int) -> Path:
    out = manifest.with_name(f"subset-{n}.jsonl")
    out.write_text("\n".join(manifest.read_text().splitlines()[:n]) + "\n")
    return out


def spark_analyze(manifest: Path, cores: int) -> dict:
    """Ingest, then the stage's analyze step alone (decode, signals, hashes, rules, caption
    LID, the MERGE and reject writes, the counts), inside a StageRun like the stage's."""
    from jobs.common.runs import StageRun
    from jobs.image import analyze_images
    from jobs.ingest import run_ingest

    spark, lake, cfg = _lake("bench-image-lake", cores)
    t0 = time.monotonic()
    ing = run_ingest(spark, lake, cfg, [], "bench", manifest=str(manifest))
    ingest_s = time.monotonic() - t0
    t0 = time.monotonic()
    with StageRun(lake, "image", cfg, {"bench": "analyze only"}) as run:
        got = analyze_images(spark, lake, cfg, run, None)
        run.count(rows_in=got["images_in"], kept=got["images_kept"], rejected=got["images_rejected"],
                  written=got["images_kept"])
    secs = time.monotonic() - t0
    # pass 1 alone (decode + signals + hashes of every image, through Spark, counted), as the step runs it
    from pyspark.sql.pandas.types import from_arrow_schema

    from jobs.image import arrow_batch_rows
    from pipelines.image.stage import MEASURED, READ_COLUMNS, measure_fn

    t0 = time.monotonic()
    with arrow_batch_rows(spark, cfg["image"]["arrow_batch_rows"]):
        lake.read("bronze.media").select(*READ_COLUMNS).mapInArrow(
            measure_fn(cfg["image"]["file"]["max_pixels"]), from_arrow_schema(MEASURED)).count()
    pass1 = time.monotonic() - t0
    spark.stop()
    n = ing["rows_in"]
    return {"images": n, "ingest_s": round(ingest_s, 1), "ingest_images_per_s_per_core": round(n / ingest_s / cores, 1),
            "analyze_s": round(secs, 1), "analyze_images_per_s_per_core": round(n / secs / cores, 1),
            "decode_signals_hashes_s": round(pass1, 1),
            "decode_signals_hashes_images_per_s_per_core": round(n / pass1 / cores, 1), **got}


def spark_stage(manifest: Path, cores: int) -> dict:
    """The whole `lakehouse image` run (analyze, near-duplicates, project-VQ tokens)."""
    from jobs.image import run_image
    from jobs.ingest import run_ingest

    spark, lake, cfg = _lake("bench-image-stage", cores)
    run_ingest(spark, lake, cfg, [], "bench", manifest=str(manifest))
    out = run_image(spark, lake, cfg)
    m = lake.read("ops.runs").where(f"run_id = '{out['run_id']}'").first()["metrics"]
    n = out["images_in"]
    res = {"images": n, "analyze_s": round(m["analyze_seconds"], 1), "near_dup_s": round(m["near_dup_seconds"], 1),
           "tokenize_s": round(m["tokenize_seconds"], 1), "stage_s": out["seconds"],
           "stage_images_per_s_per_core": round(n / out["seconds"] / cores, 1),
           "tokenize_images_per_s_per_core": round(out["token_rows"] / m["tokenize_seconds"] / cores, 1),
           "encoder_seconds_in_tasks": round(m["encoder_seconds"], 1),
           "near_duplicates": out["near_duplicates"], "token_rows": out["token_rows"]}
    spark.stop()
    return res


def synthetic_hashes(n: int, seed: int = 0) -> tuple[list[tuple], dict]:
    """n (doc_id, fingerprint, signals) rows: 70% singletons, the rest in planted clusters of
    2-6 copies whose hashes differ from the original by 0-6 random bit flips each."""
    rng = random.Random(seed)
    rows, truth = [], {}
    k = 0
    while len(rows) < n:
        ph, dh = rng.getrandbits(64), rng.getrandbits(64)
        size = 1 if rng.random() < 0.7 else rng.randint(2, 6)
        for c in range(min(size, n - len(rows))):
            p, d = ph, dh
            if c:
                for _ in range(rng.randint(0, 6)):
                    p ^= 1 << rng.randrange(64)
                for _ in range(rng.randint(0, 8)):
                    d ^= 1 << rng.randrange(64)
            doc = f"img{len(rows):08d}"
            truth[doc] = k
            rows.append((doc, p.to_bytes(8, "big") + d.to_bytes(8, "big"),
                         {"width": 1000.0, "height": 800.0, "caption_chars": 0.0}))
        k += 1
    return rows, truth


def neardup_at_scale(n: int, cores: int) -> dict:
    import shutil

    from jobs.common.spark import get_spark
    from pipelines.image import neardup
    from schemas.config import ImageNearDup

    root = ROOT / "build" / "bench-image-neardup"
    shutil.rmtree(root, ignore_errors=True)
    cfg = bench_config(root, cores)
    spark = get_spark(cfg, "bench-image-neardup")
    spark.sparkContext.setCheckpointDir(str(root / "ckpt"))
    rows, truth = synthetic_hashes(n)
    df = spark.createDataFrame(rows, "doc_id string, fingerprint binary, signals map<string,double>").repartition(
        cores * 4).localCheckpoint()
    t0 = time.monotonic()
    marks = neardup.assign(df, None, ImageNearDup().model_dump()).localCheckpoint()
    got = marks.select("doc_id", "dup_cluster_id").collect()
    secs = time.monotonic() - t0
    spark.stop()
    cluster = {r["doc_id"]: r["dup_cluster_id"] for r in got}
    members: dict = {}
    for d, c in cluster.items():
        members.setdefault(c, []).append(d)
    tp = fp = 0
    for ids in members.values():
        for i in range(len(ids)):
            for j in range(i + 1, len(ids)):
                tp += truth[ids[i]] == truth[ids[j]]
                fp += truth[ids[i]] != truth[ids[j]]
    true_pairs = sum(c * (c - 1) // 2 for c in np.bincount(list(truth.values())))
    return {"images": n, "seconds": round(secs, 1), "images_per_s_per_core": round(n / secs / cores),
            "pair_precision": round(tp / max(1, tp + fp), 4), "pair_recall": round(tp / max(1, true_pairs), 4),
            "planted_pairs": int(true_pairs)}


def edits_found() -> dict:
    from PIL import Image

    from corpora.images import edit, encode
    from pipelines.image.decode import decode, hashes
    from quality_models.images import PHOTOS, photo
    from schemas.config import ImageNearDup

    p = ImageNearDup()

    def fp(data: bytes) -> tuple[int, int]:
        h = hashes(decode(io.BytesIO(data), 10**9))
        return int.from_bytes(h[:8], "big"), int.from_bytes(h[8:], "big")

    def crop(img, share):
        h, w = img.shape[:2]
        dy, dx = int(h * share / 2), int(w * share / 2)
        return encode(img[dy:h - dy, dx:w - dx])

    kinds = {"resized": lambda x: edit(x, "resized"), "recompressed": lambda x: edit(x, "recompressed"),
             "colour_shifted": lambda x: edit(x, "colour_shifted"), "crop_10pct": lambda x: crop(x, 0.1),
             "crop_20pct": lambda x: crop(x, 0.2), "crop_40pct": lambda x: crop(x, 0.4),
             "mirrored": lambda x: edit(x, "mirrored"),
             "rotated_90": lambda x: encode(np.asarray(Image.fromarray(x).rotate(90, expand=True)))}
    out = {k: {"found": 0, "phash_bits": []} for k in kinds}
    names = list(PHOTOS)
    base = {n: fp(encode(photo(n))) for n in names}
    for n in names:
        img = photo(n)
        for k, f in kinds.items():
            a, b = base[n], fp(f(img))
            dp, dd = bin(a[0] ^ b[0]).count("1"), bin(a[1] ^ b[1]).count("1")
            out[k]["found"] += dp <= p.max_phash and dd <= p.max_dhash
            out[k]["phash_bits"].append(dp)
    false = sum(bin(base[a][0] ^ base[b][0]).count("1") <= p.max_phash
                and bin(base[a][1] ^ base[b][1]).count("1") <= p.max_dhash for a in names for b in names if a < b)
    return {"photos": len(names), "thresholds": {"max_phash": p.max_phash, "max_dhash": p.max_dhash},
            "recall": {k: round(v["found"] / len(names), 2) for k, v in out.items()},
            "median_phash_bits": {k: int(np.median(v["phash_bits"])) for k, v in out.items()},
            "unrelated_pairs_matched": int(false), "unrelated_pairs": len(names) * (len(names) - 1) // 2}


def tokenizers_one_core(n: int = 16) -> dict:
    import torch

    from quality_models.images import fit, photo
    from tokenize_jobs.image_vq import FULL, VQTokenizer
    from tokenize_jobs.image_vq_train import default_folder

    torch.set_num_threads(1)
    imgs = [fit(photo(p), 256) for p in ("astronaut", "chelsea", "coffee", "rocket")] * (n // 4)
    out = {}
    for name, tok in (("project", VQTokenizer(default_folder())), ("vqgan_f16_full", VQTokenizer(
            random_weights=True, arch=FULL))):
        params = sum(p.numel() for p in tok.model.parameters())
        tok.encode(imgs[:2])
        batch = 1 if name == "project" else 4         # the project's default batch (the fastest on CPU)
        t0 = time.perf_counter()
        k = 0
        for i in range(0, n if name == "project" else n // 2, batch):
            tok.encode(imgs[i:i + batch])
            k += len(imgs[i:i + batch])
        out[name] = {"params_m": round(params / 1e6, 1), "images": k,
                     "images_per_s": round(k / (time.perf_counter() - t0), 2)}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10000, help="images for ingest + the analyze step")
    ap.add_argument("--stage-images", type=int, default=2000, help="images for the whole stage (tokens included)")
    ap.add_argument("--neardup", type=int, default=100_000)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    t = time.perf_counter()
    manifest = make_corpus(args.images)
    result = {"images": args.images, "cores": args.cores, "corpus_seconds": round(time.perf_counter() - t, 1)}
    result["one_core"] = one_core(manifest)
    result["edits"] = edits_found()
    result["tokenizers_one_core"] = tokenizers_one_core()
    print(json.dumps(result, indent=1), flush=True)
    result["spark_analyze"] = spark_analyze(manifest, args.cores)
    print(json.dumps(result, indent=1), flush=True)
    result["spark_stage"] = spark_stage(subset(manifest, args.stage_images), args.cores)
    print(json.dumps(result, indent=1), flush=True)
    if args.neardup:
        result["neardup"] = neardup_at_scale(args.neardup, args.cores)
    print(json.dumps(result, indent=1))
    print(f"-> {save(f'image-{args.images}', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
