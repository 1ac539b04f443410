"""lakehouse image through Spark: images from a folder and from a crawl -> signals, rules,
near-duplicates, text pairs -> VQ tokens, with every image accounted for, an idempotent
rerun and a killed run resumed."""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from pyspark.sql import functions as F

from corpora.images import FOUND_EDITS, HARD_EDITS, SAMPLE_PHOTOS, crawled_pages, write_image_folder
from corpora.sample import write_warc
from jobs.common.config import load_config
from jobs.common.lake import Lake
from jobs.image import run_image
from jobs.ingest import run_ingest
from quality_models.training_data import load_texts
from tests.conftest import TEST_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
TABLES = ("bronze.media", "silver.media_segments", "gold.tokens", "ops.rejects")
# nothing inline: the stage reads files and WARC records by reference; a 81 MP bomb passes
# ingest's header check (Pillow's 89 MP) and meets the stage's lower limit
OVERRIDES = TEST_OVERRIDES + ["ingest.media.inline_max_bytes=0", "image.file.max_pixels=50000000"]


def write_inputs(folder: Path) -> tuple[Path, Path]:
    entries = write_image_folder(folder / "images", dataset="photos", edits=FOUND_EDITS + HARD_EDITS)
    from corpora.images import bad_images

    for name, data in bad_images(random.Random(4), bomb=(9000, 9000)).items():
        (folder / "images" / name).write_bytes(data)            # the smaller bomb replaces the sample's
    with open(folder / "images" / "manifest.jsonl", "w") as fh:
        for e in entries:
            fh.write(json.dumps(e) + "\n")
    pages, images = crawled_pages(load_texts(), random.Random(1))
    write_warc(folder / "warc" / "photos.warc.gz", pages + images)
    return folder / "images" / "manifest.jsonl", folder / "warc"


def config(root) -> dict:
    return load_config("sample", OVERRIDES + [f"lake.root={root}"])


def ingest(spark, lake, cfg, manifest, warc):
    return (run_ingest(spark, lake, cfg, [], "photos", manifest=str(manifest)),
            run_ingest(spark, lake, cfg, [str(warc)], "crawl"))


@pytest.fixture(scope="module")
def image_lake(spark, tmp_path_factory):
    manifest, warc = write_inputs(tmp_path_factory.mktemp("photos"))
    cfg = config(tmp_path_factory.mktemp("image-lake"))
    lake = Lake(spark, cfg["lake"]["root"])
    ing = ingest(spark, lake, cfg, manifest, warc)
    first = run_image(spark, lake, cfg)
    snapshot = {t: lake.fingerprint(t) for t in TABLES}
    second = run_image(spark, lake, cfg)
    return {"lake": lake, "cfg": cfg, "inputs": (manifest, warc), "ingest": ing, "first": first, "second": second,
            "snapshot": snapshot}


@pytest.fixture
def images(image_lake):
    image_lake["lake"].activate()
    return image_lake


def name_of(uri: str) -> str:
    return uri.rsplit("/", 1)[-1]


def test_every_image_is_kept_or_rejected_with_a_reason(images):
    lake, first = images["lake"], images["first"]
    rej = {name_of(r["source_uri"]): (r["stage"], r["reason"]) for r in
           lake.read("ops.rejects").where("reason != 'image_near_duplicate'").collect()}
    assert rej == {"corrupt.jpg": ("ingest", "corrupt_media"), "truncated.jpg": ("image", "image_truncated"),
                   "bomb.png": ("image", "image_bomb"), "tiny.png": ("image", "image_too_small"),
                   "banner.jpg": ("image", "image_extreme_aspect"), "blank.png": ("image", "image_blank")}
    n_media = lake.read("bronze.media").count()
    assert first["images_in"] == n_media and first["images_rejected"] == 5
    assert first["images_kept"] == n_media - 5
    run = lake.read("ops.runs").where(F.col("run_id") == first["run_id"]).first()
    assert run["status"] == "succeeded" and run["rows_in"] == run["rows_kept"] + run["rows_rejected"] == n_media
    seg = lake.read("silver.media_segments").where("media_type = 'image'")
    assert seg.count() == n_media - 2                    # the truncated file and the bomb were never read
    r = seg.where(F.col("source_uri").endswith("/retina-cmyk.jpg")).first()
    assert r["decision"] == "kept" and r["parent_ids"] == [r["doc_id"]] and len(r["fingerprint"]) == 16
    assert set(r["signals"]) >= {"width", "height", "aspect", "blur", "pixel_std", "caption_chars", "min_side"}


def test_edited_copies_cluster_with_their_original_and_nothing_else(images):
    lake = images["lake"]
    seg = lake.read("silver.media_segments").where("decision = 'kept'").collect()
    url = {r["doc_id"]: name_of(r["source_uri"]) if r["source_record"] == r["source_uri"] else "warc" for r in seg}
    by_uri = {name_of(r["source_uri"]): r for r in seg if r["source_record"] == r["source_uri"]}
    found = {kind: 0 for kind in FOUND_EDITS + HARD_EDITS}
    for photo in SAMPLE_PHOTOS:
        cluster = by_uri[f"{photo}.jpg"]["dup_cluster_id"]
        for kind in FOUND_EDITS + HARD_EDITS:
            ext = "png" if kind == "colour_shifted" else "jpg"
            found[kind] += by_uri[f"{photo}-{kind}.{ext}"]["dup_cluster_id"] == cluster
        others = {by_uri[f"{p}.jpg"]["dup_cluster_id"] for p in SAMPLE_PHOTOS if p != photo}
        assert cluster not in others
    assert all(found[k] == len(SAMPLE_PHOTOS) for k in FOUND_EDITS), found
    assert found["mirrored"] == 0                         # what pHash/dHash miss, by design
    keep = [r for r in seg if r["dup_keep"]]
    assert len({r["dup_cluster_id"] for r in keep}) == len(keep)          # one representative per cluster
    dups = lake.read("ops.rejects").where("reason = 'image_near_duplicate'").collect()
    assert len(dups) == sum(1 for r in seg if r["dup_keep"] is False)
    assert all(r["ref_doc_id"] in url for r in dups)
    assert all(r["dup_hamming"] <= 8 for r in seg if r["dup_keep"] is False)


def test_a_crawled_image_knows_its_page_and_alt_text(images):
    lake = images["lake"]
    pages = {r["url"]: r["doc_id"] for r in lake.read("bronze.documents").collect()}
    media = {r["url"]: r for r in lake.read("bronze.media").where(F.col("url").isNotNull()).collect()}
    assert all(m["content"] is None and m["source_offset"] is not None for m in media.values())   # by reference
    seg = {r["doc_id"]: r for r in lake.read("silver.media_segments").collect()}
    img = {u.rsplit("/", 1)[-1]: seg[m["doc_id"]] for u, m in media.items()}
    cat = img["chelsea.jpg"]
    assert cat["text"] == "A tabby cat named Chelsea looking to the side" and cat["text_source"] == "alt"
    assert cat["pair_doc_id"] in pages.values() and cat["lang"] == "en" and cat["signals"]["pages"] == 2
    assert img["hubble_deep_field.jpg"]["text_source"] == "caption"
    assert img["coffee.jpg"]["lang"] == "de"
    assert img["unlinked.png"]["text"] is None and img["unlinked.png"]["signals"]["pages"] == 0
    # the captioned crawled copy is the representative of the folder copies of the same photograph
    assert cat["dup_keep"] and images["first"]["images_with_text"] == 5


def test_representatives_become_256_image_tokens_with_their_text(images):
    from tokenize_jobs.vocab import load

    lake, first = images["lake"], images["first"]
    vocab = load(str(Path(lake.root.removeprefix("file:")) / "gold" / "_vocab" / f"{first['vocab_version']}.json"))
    lo, hi = vocab.codebook("image")
    keep = lake.read("silver.media_segments").where("dup_keep").select("doc_id", F.col("text").alias("t"))
    tokens = lake.read("gold.tokens").where("modality = 'image'")
    assert tokens.count() == keep.count() == first["token_rows"]
    for r in tokens.join(keep, "doc_id").collect():
        ids = np.array(r["tokens"])
        assert ids.size == r["n_tokens"] == 258 and ids[0] == vocab.specials["<|image_start|>"]
        assert ids[-1] == vocab.specials["<|image_end|>"] and ((ids[1:-1] >= lo) & (ids[1:-1] < hi)).all()
        assert r["text"] == r["t"] and r["tokenizer"].startswith("vq-") and r["parent_ids"]
    counts = lake.read("gold.token_counts").where(F.col("run_id") == first["run_id"]).collect()
    assert sum(c["tokens"] for c in counts) == first["new_tokens"] == 258 * first["token_rows"]


def test_lineage_of_an_image_token_row(images):
    from pipelines.lineage import doc_story

    lake = images["lake"]
    row = lake.read("gold.tokens").where("modality = 'image' AND text IS NOT NULL").orderBy("doc_id").first()
    story = doc_story(lake, row["doc_id"])
    assert story["status"] == "tokenized" and story["media"][0]["url"].startswith("https://")
    assert story["segment"][0]["pair_doc_id"] == row["pair_doc_id"]
    assert {r["stage"] for r in story["runs"]} == {"ingest", "image"}


def test_a_rerun_changes_nothing(images):
    lake, second = images["lake"], images["second"]
    assert second["images_in"] == 0 and second["compared"] == 0 and second["images_to_tokenize"] == 0
    assert {t: lake.fingerprint(t) for t in TABLES} == images["snapshot"]


def test_a_killed_run_resumes_to_the_same_tables(images, lake_at, spark, tmp_path):
    """`lakehouse image` killed (SIGKILL) once its analysis is written; the next run finishes."""
    cfg = config(tmp_path / "lake")
    lake = Lake(spark, cfg["lake"]["root"])
    ingest(spark, lake, cfg, *images["inputs"])
    cmd = [sys.executable, "-m", "jobs.cli", "image", "--profile", "sample", "--lake", str(tmp_path / "lake")]
    cmd += [a for o in OVERRIDES for a in ("--set", o)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    log = tmp_path / "lake" / "silver" / "media_segments" / "_delta_log"
    t0 = time.monotonic()
    while not (log / f"{1:020d}.json").exists() and proc.poll() is None:     # the analysis MERGE committed
        assert time.monotonic() - t0 < 300
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    lake.activate()
    assert lake.read("ops.runs").where("stage = 'image' AND status = 'running'").count() == 1
    run_image(spark, lake, cfg)
    ids = {t: lake.fingerprint(t) for t in TABLES}
    assert ids == images["snapshot"]
