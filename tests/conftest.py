"""One local SparkSession for the whole test run, the sample corpus, and a lake ingested once;
a generated crawl through one local nightly, the reference for the cluster and s3a runs."""
from __future__ import annotations

import os

import pytest

from jobs.common.config import load_config, updated
from jobs.common.lake import Lake

TEST_OVERRIDES = [
    "spark.master=local[2]",
    "spark.conf.spark.ui.enabled=false",
    "spark.conf.spark.sql.shuffle.partitions=4",
    "spark.conf.spark.default.parallelism=2",
    "spark.conf.spark.driver.memory=3g",
]
SAMPLE_DATASETS = ("sample-web", "sample-wet", "sample-dumps")
# one PII audit salt for every test lake and subprocess (tests/test_integrity.py checks where salts come from)
os.environ.setdefault("LAKEHOUSE_PII_SALT", "lakehouse-tests-salt")


def test_config(root) -> dict:
    return load_config("sample", TEST_OVERRIDES + [f"lake.root={root}"])


@pytest.fixture(scope="session")
def spark(tmp_path_factory):
    from jobs.common.spark import get_spark

    cfg = test_config(tmp_path_factory.mktemp("unused-lake"))
    session = get_spark(cfg, "lakehouse-tests")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def sample_dirs(tmp_path_factory):
    from corpora.sample import generate

    return generate(tmp_path_factory.mktemp("sample"))


def ingest_sample(spark, root, sample_dirs) -> tuple[Lake, dict, dict]:
    from jobs.ingest import run_ingest

    cfg = test_config(root)
    lake = Lake(spark, cfg["lake"]["root"])
    runs = {}
    for ds in SAMPLE_DATASETS:
        runs[ds] = run_ingest(spark, lake, cfg, [str(sample_dirs[ds])], ds)
    runs["sample-media"] = run_ingest(spark, lake, cfg, [], "sample-media",
                                      manifest=str(sample_dirs["sample-media"] / "manifest.jsonl"))
    return lake, cfg, runs


@pytest.fixture(scope="session")
def _sample_lake(spark, sample_dirs, tmp_path_factory):
    return ingest_sample(spark, tmp_path_factory.mktemp("lake"), sample_dirs)


@pytest.fixture
def sample_lake(_sample_lake):
    """(lake, cfg, {dataset: run summary}) after ingesting the whole sample once; the catalog
    names (bronze.documents, ...) point at this lake during the test."""
    lake, cfg, runs = _sample_lake
    lake.activate()
    return lake, cfg, runs


@pytest.fixture
def lake_at(spark):
    """A fresh Lake in the current session, re-pointing the catalog to it."""
    def make(root) -> tuple[Lake, dict]:
        cfg = test_config(root)
        return Lake(spark, cfg["lake"]["root"]), cfg
    return make


@pytest.fixture(scope="session")
def _cleaned(_sample_lake, spark):
    from jobs.clean import run_clean

    lake, cfg, _ = _sample_lake
    lake.activate()
    return run_clean(spark, lake, cfg)


@pytest.fixture
def cleaned(sample_lake, _cleaned):
    """(lake, cfg, clean summary) after cleaning the sample lake once."""
    lake, cfg, _ = sample_lake
    return lake, cfg, _cleaned


@pytest.fixture(scope="session")
def _deduped(_cleaned, _sample_lake, spark):
    from jobs.dedup import run_dedup

    lake, cfg, _ = _sample_lake
    lake.activate()
    return run_dedup(spark, lake, cfg)


@pytest.fixture
def deduped(sample_lake, _deduped):
    """(lake, cfg, dedup summary) after deduplicating the cleaned sample lake once."""
    lake, cfg, _ = sample_lake
    return lake, cfg, _deduped


@pytest.fixture(scope="session")
def _redacted(_deduped, _sample_lake, spark):
    from jobs.pii import run_pii

    lake, cfg, _ = _sample_lake
    lake.activate()
    return run_pii(spark, lake, cfg)


@pytest.fixture
def redacted(sample_lake, _redacted):
    """(lake, cfg, pii summary) after the PII/license stage on the deduplicated sample lake."""
    lake, cfg, _ = sample_lake
    return lake, cfg, _redacted


@pytest.fixture(scope="session")
def _tokenized(_redacted, _sample_lake, spark):
    from jobs.tokenize import run_tokenize

    lake, cfg, _ = _sample_lake
    lake.activate()
    return run_tokenize(spark, lake, cfg)


@pytest.fixture
def tokenized(sample_lake, _tokenized):
    """(lake, cfg, tokenize summary) after tokenizing the redacted sample lake once."""
    lake, cfg, _ = sample_lake
    return lake, cfg, _tokenized


EXPORT_OVERRIDES = ["export.seq_length=128", "export.shard_tokens=100000", "mixing.missing=renormalize",
                    "mixing.budget_tokens=null"]      # the text pool as it is


@pytest.fixture(scope="session")
def _exported(_tokenized, _sample_lake, spark, tmp_path_factory):
    from jobs.export import run_export

    lake, cfg, _ = _sample_lake
    lake.activate()
    out = tmp_path_factory.mktemp("exports")
    ecfg = load_config("sample", TEST_OVERRIDES + [f"lake.root={lake.root}", f"export.out_dir={out}"]
                       + EXPORT_OVERRIDES)
    return ecfg, run_export(spark, lake, ecfg)


@pytest.fixture
def exported(sample_lake, _exported):
    """(lake, export cfg, export summary): the tokenized sample exported as 128-token sequences."""
    lake, _, _ = sample_lake
    return lake, _exported[0], _exported[1]


MULTIMODAL_OVERRIDES = ["export.seq_length=1024", "export.shard_tokens=100000", "export.min_shards=2",
                        "mixing.phase=B"]


@pytest.fixture(scope="session")
def _multimodal(_tokenized, _sample_lake, spark, tmp_path_factory):
    """A copy of the tokenized sample lake with its audio, images and videos through their
    stages (gold.tokens holds all four modalities), exported as phase B 1024-token sequences."""
    import shutil

    from jobs.audio import run_audio
    from jobs.export import run_export
    from jobs.image import run_image
    from jobs.video import run_video

    src, _, _ = _sample_lake
    root = tmp_path_factory.mktemp("multimodal") / "lake"
    shutil.copytree(src.root.removeprefix("file:"), root)
    cfg = load_config("sample", TEST_OVERRIDES + [f"lake.root={root}",
                                                  f"export.out_dir={tmp_path_factory.mktemp('mm-exports')}"]
                      + MULTIMODAL_OVERRIDES)
    lake = Lake(spark, cfg["lake"]["root"])
    lake.activate()
    stages = {"audio": run_audio(spark, lake, cfg), "image": run_image(spark, lake, cfg),
              "video": run_video(spark, lake, cfg)}
    return lake, cfg, stages, run_export(spark, lake, cfg)


@pytest.fixture
def multimodal(_multimodal):
    """(lake, cfg, {stage: summary}, export summary) of the multimodal sample lake."""
    _multimodal[0].activate()
    return _multimodal


def nightly_cfg(cfg: dict, inbox, export: bool = False) -> dict:
    """cfg with a nightly that ingests the folder `inbox` as the dataset `crawl`."""
    return updated(cfg, {"nightly": {"inputs": [{"dataset": "crawl", "paths": [str(inbox)]}], "export": export},
                         "license": {"datasets": {"crawl": {"unknown": "keep"}}}})


# the columns the cluster test compares (ingest and clean write them)
CRAWL_COLUMNS = {"bronze.documents": ["doc_id", "source_record", "content_sha256", "text"],
                 "silver.documents": ["doc_id", "text", "lang", "quality_tier", "quality_score"],
                 "ops.rejects": ["reject_id", "stage", "reason"]}
CRAWL_COUNTED = ("bronze.documents", "silver.documents", "silver.redacted_documents", "gold.tokens", "ops.rejects")
# tables whose content (Lake.fingerprint) a killed-and-resumed nightly must reproduce
FINGERPRINTED = ("bronze.documents", "silver.documents", "silver.text_signals", "silver.minhash",
                 "silver.redacted_documents", "silver.pii_audit", "gold.tokens", "ops.rejects", "ops.ingest_files")


@pytest.fixture(scope="session")
def _crawl(spark, tmp_path_factory):
    from collections import Counter

    from corpora.sample import generate_warcs
    from jobs.nightly import run_nightly

    inbox = tmp_path_factory.mktemp("crawl-inbox")
    files = generate_warcs(inbox, 40, n_files=2, seed=1)
    events = tmp_path_factory.mktemp("openlineage") / "events.jsonl"   # the run events are checked too
    cfg = updated(nightly_cfg(test_config(tmp_path_factory.mktemp("crawl-lake")), inbox),
                  {"openlineage": {"transport": "file", "path": str(events)}})
    lake = Lake(spark, cfg["lake"]["root"])
    report = run_nightly(spark, lake, cfg)
    snapshot = {"rows": {t: Counter(tuple(r) for r in lake.read(t).select(*cols).collect())
                         for t, cols in CRAWL_COLUMNS.items()},
                "counts": {t: lake.read(t).count() for t in CRAWL_COUNTED},
                "tokens": sorted(r.doc_id for r in lake.read("gold.tokens").select("doc_id").collect()),
                "fingerprints": {t: lake.fingerprint(t) for t in FINGERPRINTED}}
    return {"lake": lake, "cfg": cfg, "inbox": inbox, "files": files, "report": report, "snapshot": snapshot}


@pytest.fixture
def crawl(_crawl):
    """A generated crawl (two WARC files, 40 pages, in `inbox`) after one local nightly: its lake,
    cfg and report, and a snapshot of the tables taken right after it (later tests may add to
    the lake; the snapshot stays)."""
    _crawl["lake"].activate()
    return _crawl
