"""The pipeline definition: every stage declared once, in order.

A `Stage` names what the stage reads (the tables whose new versions bring it work), what it
writes, its config sections (models in schemas/config.py: types and defaults), the extra it
needs beyond the text stack (e.g. torch for export), a GPU if it wants one, and its run
function `module:function`, called as `fn(spark, lake, cfg) -> summary`. `PIPELINE` is
what `lakehouse nightly`, `lakehouse sample`, the CLI, `infra/spark_job.py <stage>` and the
Airflow DAG read. `TOOLS` are the other commands (no tables of their own to schedule).

Adding a stage is one entry here (plus its module: `jobs/<name>.py` with a `run_<name>`,
and a `main` if it takes options beyond --dataset). This module imports only pydantic, so
the Airflow scheduler can read it without Spark.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

from pydantic import BaseModel

from schemas import config as C

# extra (setup.cfg [options.extras_require]) -> modules it provides
EXTRAS = {"crawl": ("httpx", "protego", "courlan", "url_normalize", "yt_dlp"),
          "train": ("torch", "megatron.core"), "pii": ("presidio_analyzer",), "report": ("matplotlib",),
          "audio": ("av", "soxr", "webrtcvad", "torch", "encodec", "vector_quantize_pytorch"),
          "image": ("imagehash", "torch", "vector_quantize_pytorch"),
          "video": ("av", "scenedetect", "cv2", "imagehash", "torch", "vector_quantize_pytorch", "encodec")}


class StageError(ValueError):
    """A stage that is not declared, or whose requirements are not installed."""


@dataclass(frozen=True)
class Stage:
    name: str
    help: str
    reads: tuple[str, ...] = ()           # tables whose new versions bring it work; () = always looks
    writes: tuple[str, ...] = ()
    config: dict[str, type[BaseModel]] = field(default_factory=dict)   # config section -> model
    extras: tuple[str, ...] = ()          # setup.cfg extras its executors need (EXTRAS)
    gpu: bool = False                     # its executors want a GPU
    enabled_by: str | None = None         # a boolean config key that turns it off in nightly/sample; "a|b|c":
                                          # a decides when set (not null), else on when b or c is non-empty
    check: str | None = None              # "module:function(cfg)" raising ValueError on a config it cannot run
    run: str = ""                         # "module:function"; default jobs.<name>:run_<name>
    module: str = ""                      # the command's module; default jobs.<name>

    @property
    def command_module(self) -> str:
        return self.module or f"jobs.{self.name}"

    def _resolve(self, ref: str):
        mod, _, fn = ref.partition(":")
        return getattr(importlib.import_module(mod), fn)

    def run_fn(self):
        return self._resolve(self.run or f"{self.command_module}:run_{self.name}")

    def main(self, argv: list[str] | None = None) -> int:
        """The command: the module's main(), or the generic `lakehouse <stage> [--dataset ...]`."""
        mod = importlib.import_module(self.command_module)
        if hasattr(mod, "main"):
            return mod.main(argv)
        from jobs.common.entry import dataset_stage_main

        return dataset_stage_main(self.name, self.help, self.run_fn(), argv)

    def enabled(self, cfg: dict) -> bool:
        if not self.enabled_by:
            return True

        def get(key):
            value = cfg
            for part in key.split("."):
                value = value[part]
            return value

        first, *rest = self.enabled_by.split("|")
        if get(first) is not None or not rest:
            return bool(get(first))
        return any(bool(get(k)) for k in rest)

    def require(self) -> None:
        """Fail with the install line when an extra this stage needs is missing."""
        for extra in self.extras:
            for mod in EXTRAS[extra]:
                try:
                    importlib.import_module(mod)
                except ImportError as e:
                    raise StageError(f"stage {self.name} needs the [{extra}] extra: pip install "
                                     f"'lakehouse-etl[{extra}]' ({e})") from None

    def check_config(self, cfg: dict) -> None:
        if self.check:
            self._resolve(self.check)(cfg)


@dataclass(frozen=True)
class Tool:
    name: str
    help: str
    module: str
    plain: bool = False       # takes its own arguments (no config/Spark error handling)

    def main(self, argv: list[str] | None = None) -> int:
        return importlib.import_module(self.module).main(argv)


PIPELINE: list[Stage] = [
    Stage("crawl", "fetch the frontier politely into WARC files (robots.txt, per-host limits, retries) and "
                   "licensed media with yt-dlp; ingest reads what it wrote",
          writes=("ops.frontier", "ops.crawl_files", "ops.rejects"), config={"crawl": C.CrawlConfig},
          extras=("crawl",), enabled_by="crawl.enabled|crawl.seeds|crawl.media.sources",
          check="jobs.crawl:check_config"),
    Stage("ingest", "ingest WARC/WET, JSONL, Parquet and media into bronze.*",
          writes=("bronze.documents", "bronze.media", "ops.ingest_files", "ops.rejects"),
          config={"ingest": C.IngestConfig}, run="jobs.ingest:run_inputs"),
    Stage("clean", "extract, normalize, language-ID, filter and quality-score text into silver.*",
          reads=("bronze.documents",), writes=("silver.documents", "silver.text_signals", "ops.rejects"),
          config={"clean": C.CleanConfig}, check="jobs.clean:check_config"),
    Stage("dedup", "exact + MinHash LSH near-duplicate clusters over silver.documents",
          reads=("silver.documents",), writes=("silver.documents", "silver.minhash", "ops.rejects"),
          config={"dedup": C.DedupConfig}),
    Stage("pii", "license gate, PII detection and redaction into silver.redacted_documents",
          reads=("silver.documents",), writes=("silver.redacted_documents", "silver.pii_audit", "ops.rejects"),
          config={"pii": C.PiiConfig, "license": C.LicenseConfig}, extras=("pii",), check="jobs.pii:check_config"),
    Stage("tokenize", "Qwen BPE tokens of the kept documents into gold.tokens (unified vocabulary)",
          reads=("silver.redacted_documents",), writes=("gold.tokens", "gold.token_counts", "ops.rejects"),
          config={"tokenize": C.TokenizeConfig}),
    Stage("audio", "decode, VAD-segment, measure, fingerprint and RVQ-tokenize audio files into "
                   "silver.media_segments and gold.tokens",
          reads=("bronze.media",), writes=("silver.media_segments", "gold.tokens", "gold.token_counts", "ops.rejects"),
          config={"audio": C.AudioConfig, "tokenize": C.TokenizeConfig}, extras=("audio",), gpu=True,
          check="jobs.audio:check_config"),
    Stage("image", "decode, filter, perceptual-hash, near-dedup and VQ-tokenize images (with their alt-text "
                   "pairs) into silver.media_segments and gold.tokens",
          reads=("bronze.media",),
          writes=("silver.media_segments", "gold.tokens", "gold.token_counts", "ops.rejects"),
          config={"image": C.ImageConfig, "tokenize": C.TokenizeConfig, "clean": C.CleanConfig},
          extras=("image",), gpu=True, check="jobs.image:check_config"),
    Stage("video", "decode, cut into shots (PySceneDetect), measure, near-dedup and tokenize videos (frames at "
                   "6 fps by the image VQ, the audio track by the audio codec, on one timeline) into "
                   "silver.media_segments and gold.tokens",
          reads=("bronze.media",),
          writes=("silver.media_segments", "gold.tokens", "gold.token_counts", "ops.rejects"),
          config={"video": C.VideoConfig, "image": C.ImageConfig, "audio": C.AudioConfig,
                  "tokenize": C.TokenizeConfig},
          extras=("video",), gpu=True, check="jobs.video:check_config"),
    Stage("export", "mix, pack and write Megatron .bin/.idx shards into gold.exports",
          reads=("gold.tokens",), writes=("gold.exports", "gold.export_docs"),
          config={"export": C.ExportConfig, "mixing": C.MixingConfig},
          extras=("train",), enabled_by="nightly.export", check="jobs.export:check_config"),
]

TOOLS: list[Tool] = [
    Tool("train", "train the Megatron-core model on an export (torchrun)", "jobs.train", plain=True),
    Tool("nightly", "every stage in order over what arrived since the last successful run", "jobs.nightly"),
    Tool("report", "a static HTML data dashboard of the lake (plots of runs, drops, tokens, PII)", "jobs.report"),
    Tool("plan", "a capacity plan for a token pool (core-hours, wall time, bytes, shuffle) from measured rates",
         "jobs.plan"),
    Tool("lineage", "the story of a document or an export shard, from the Delta tables", "jobs.lineage"),
    Tool("review", "a static HTML page of a random sample of a stage's decisions, for a person to check",
         "jobs.review"),
    Tool("sql", "run Delta SQL against the lake", "jobs.sql"),
    Tool("sample", "generate the sample corpus and run the pipeline on it", "jobs.sample"),
    Tool("config", "show the merged config and where each value came from", "jobs.config"),
    Tool("jars", "fetch or list the pinned JVM jars (for spark-submit --jars)", "infra.jars", plain=True),
]


def stage(name: str) -> Stage:
    for s in PIPELINE:
        if s.name == name:
            return s
    raise StageError(f"unknown stage {name!r}; stages: {[s.name for s in PIPELINE]}")


def command(name: str) -> Stage | Tool:
    for c in [*PIPELINE, *TOOLS]:
        if c.name == name:
            return c
    raise StageError(f"unknown command {name!r}; commands: {[c.name for c in [*PIPELINE, *TOOLS]]}")


def names() -> list[str]:
    return [s.name for s in PIPELINE]


def order(cfg: dict, only: list[str] | None = None) -> list[Stage]:
    """The stages a nightly (or the sample) runs, in order: enabled ones, optionally only some."""
    if only:
        unknown = sorted(set(only) - set(names()))
        if unknown:
            raise StageError(f"unknown stages {unknown}; stages: {names()}")
    return [s for s in PIPELINE if s.enabled(cfg) and (not only or s.name in only)]


def config_sections() -> dict[str, type[BaseModel]]:
    out: dict[str, type[BaseModel]] = {}
    for s in PIPELINE:
        for section, model in s.config.items():
            if out.get(section, model) is not model:
                raise StageError(f"config section {section!r} is declared with two models")
            out[section] = model
    return out


def describe() -> list[dict]:
    """The pipeline as data: what `python -m jobs.stages` prints."""
    return [{"name": s.name, "reads": list(s.reads), "writes": list(s.writes), "config": sorted(s.config),
             "extras": list(s.extras), "gpu": s.gpu, "enabled_by": s.enabled_by, "help": s.help} for s in PIPELINE]


if __name__ == "__main__":   # python -m jobs.stages [NAME]: the pipeline, or check that NAME is a command
    import json
    import sys

    if len(sys.argv) > 1:
        try:
            command(sys.argv[1])
        except StageError as e:
            sys.exit(f"error: {e}")
    else:
        print(json.dumps(describe(), indent=1))
