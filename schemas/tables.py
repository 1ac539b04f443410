"""Every lake table: schema, merge keys, partitioning. Tables are created on first use."""
from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql.types import (
    ArrayType,
    BinaryType,
    BooleanType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from schemas.lineage import LINEAGE_FIELDS


@dataclass(frozen=True)
class TableSpec:
    name: str                       # "<database>.<table>"
    schema: StructType
    keys: tuple[str, ...]           # MERGE keys: a rerun with the same keys changes nothing
    lineage: bool = True            # data tables carry (and are checked for) lineage columns
    partition_by: tuple[str, ...] = ()
    description: str = ""
    properties: dict = field(default_factory=dict)

    @property
    def database(self) -> str:
        return self.name.split(".")[0]

    @property
    def short(self) -> str:
        return self.name.split(".")[1]


def _s(name, nullable=True):
    return StructField(name, StringType(), nullable)


BRONZE_DOCUMENTS = StructType(LINEAGE_FIELDS + [
    _s("url"),
    _s("host"),
    StructField("fetch_time", TimestampType()),
    _s("record_type", False),          # response | resource | conversion | jsonl | parquet
    StructField("source_offset", LongType()),  # byte offset of the record (gzip member) in source_uri
    _s("content_type"),                # mime type without parameters
    _s("charset"),                     # encoding the text was decoded with
    StructField("http_status", IntegerType()),
    StructField("http_headers", MapType(StringType(), StringType())),  # the ones that matter
    _s("lang_hint"),                   # Content-Language / WARC identified language / dump field
    _s("content_format", False),       # html | text
    StructField("byte_length", LongType(), False),
    _s("text", False),                 # decoded body (HTML or plain text)
    # HTML pages: the <img> elements (src resolved against the page URL, alt, figcaption), what
    # the image stage pairs crawled images with
    StructField("image_refs", ArrayType(StructType([
        StructField("url", StringType()), StructField("alt", StringType()), StructField("caption", StringType()),
    ]))),
])

BRONZE_MEDIA = StructType(LINEAGE_FIELDS + [
    _s("media_type", False),           # image | audio | video
    _s("mime_type"),
    StructField("size_bytes", LongType(), False),
    StructField("modification_time", TimestampType()),
    StructField("duration_s", DoubleType()),
    StructField("width", IntegerType()),
    StructField("height", IntegerType()),
    StructField("sample_rate", IntegerType()),
    StructField("channels", IntegerType()),
    _s("codec"),
    StructField("content", BinaryType()),  # the bytes, when small enough (ingest.media.inline_max_bytes)
    _s("lang_hint"),                   # the language the manifest states, if any
    _s("url"),                         # crawled media (WARC responses): the URL it was fetched from
    StructField("source_offset", LongType()),  # ... and its record's byte offset in source_uri
    # where it came from, as the acquirer saw it (crawl: yt-dlp's info JSON: license, uploader,
    # duration, source URL, subtitles.<lang> text)
    StructField("provenance", MapType(StringType(), StringType())),
])

SILVER_MEDIA_SEGMENTS = StructType(LINEAGE_FIELDS + [
    # doc_id: the segment's own id; parent_ids: [the file's bronze.media doc_id];
    # source_record: <file URI>#t=<start>,<end> (a W3C media fragment); images: one row per file,
    # segment 0, the bronze row's source_record; video shots: segments of their video, the dup
    # columns set per video (every shot of a duplicate video points at the kept video)
    _s("media_type", False),           # audio | image | video
    StructField("segment", IntegerType(), False),     # position in the file, from 0
    StructField("start_s", DoubleType(), False),
    StructField("end_s", DoubleType(), False),
    _s("lang"),                        # the file's stated language (manifest), if any
    StructField("signals", MapType(StringType(), DoubleType()), False),  # duration_s, speech_ratio, level_dbfs, ...
    StructField("fingerprint", BinaryType()),         # audio: Haitsma-Kalker sub-fingerprints, uint32 LE, 62.5/s
    _s("decision", False),             # kept | rejected (the segment rules, from the signals)
    _s("reason"),                      # the first rule that failed
    # set by near-duplicate detection (null until then; rejected segments stay null)
    _s("dup_cluster_id"),
    StructField("dup_cluster_size", LongType()),
    StructField("dup_keep", BooleanType()),
    _s("dup_ref"),                     # the kept segment a duplicate matched
    StructField("dup_ber", DoubleType()),               # audio: its bit error rate against it
    StructField("dup_hamming", IntegerType()),          # images, videos: the (best keyframe) pHash distance
    # images: the text pair (alt text or figcaption of an <img> on a crawled page pointing at it)
    _s("text"),
    _s("text_source"),                 # alt | caption
    _s("pair_doc_id"),                 # the page's bronze.documents doc_id
])

SILVER_DOCUMENTS = StructType(LINEAGE_FIELDS + [
    _s("url"),
    _s("host"),
    StructField("fetch_time", TimestampType()),
    _s("title"),
    _s("text", False),                 # extracted, normalized main text
    _s("lang", False),                 # fastText lid.176 label (ISO 639-1 where it has one)
    StructField("lang_score", DoubleType(), False),
    StructField("quality_score", DoubleType(), False),   # P(hq) of the quality classifier
    _s("quality_tier", False),         # high | mid | low (clean.quality.tiers)
    StructField("n_chars", LongType(), False),
    StructField("n_words", LongType(), False),
    _s("extractor", False),            # resiliparse | trafilatura | none (plain text)
    # set by the dedup stage (null until then)
    _s("dup_cluster_id"),              # smallest doc_id of the duplicate cluster
    StructField("dup_cluster_size", LongType()),
    StructField("dup_keep", BooleanType()),    # the cluster's representative (what goes forward)
])

TEXT_SIGNALS = StructType([
    _s("doc_id", False),
    _s("dataset", False),
    _s("lang"),
    StructField("lang_score", DoubleType()),
    StructField("quality_score", DoubleType()),
    _s("quality_tier"),
    StructField("signals", MapType(StringType(), DoubleType())),  # every heuristic measurement
    _s("decision", False),             # kept | rejected
    _s("reason"),                      # the rule or check that rejected it
    _s("run_id", False),
    _s("stage", False),
    StructField("processed_at", TimestampType(), False),
    _s("pipeline_version", False),
])

MINHASH = StructType([
    _s("doc_id", False),
    _s("lang"),
    _s("norm_hash", False),            # xxh3-128 of the normalized token sequence (exact duplicates)
    _s("url_norm"),
    StructField("n_shingles", IntegerType(), False),
    StructField("signature", BinaryType(), False),             # num_perm little-endian uint32
    StructField("bands", ArrayType(LongType()), False),        # LSH band hashes
    _s("quality_tier"),
    StructField("fetch_time", TimestampType()),
    StructField("kept", BooleanType(), False),                 # representative: part of the index
    _s("cluster_id"),                  # its cluster's dup_cluster_id, which later members take
    StructField("cluster_size", LongType()),                  # members so far (a kept row's is kept up to date)
    _s("params", False),               # num_perm/seed/ngram/bands/rows the signature was made with
    _s("run_id", False),
    StructField("processed_at", TimestampType(), False),
])

SILVER_REDACTED = StructType(LINEAGE_FIELDS + [
    _s("url"),
    _s("host"),
    StructField("fetch_time", TimestampType()),
    _s("text", False),                 # silver.documents text with PII spans replaced by <|pii_*|> tokens
    _s("lang", False),
    StructField("lang_score", DoubleType(), False),
    StructField("quality_score", DoubleType(), False),
    _s("quality_tier", False),
    StructField("n_chars", LongType(), False),          # of the redacted text
    _s("dup_cluster_id"),
    StructField("dup_cluster_size", LongType()),
    StructField("dup_keep", BooleanType()),
    StructField("pii_count", LongType(), False),        # spans found (redacted or, by policy, kept)
    StructField("pii_types", ArrayType(StringType()), False),
    _s("license_status", False),       # allowed | kept_unknown | kept_other (kept by dataset policy)
    _s("robots_tag"),                  # X-Robots-Tag that ingest recorded, if any
    _s("pii_policy", False),           # hash of the pii + license policy applied
])

PII_AUDIT = StructType([
    _s("doc_id", False),
    _s("dataset", False),
    _s("entity_type", False),          # CN_RESIDENT_ID, EMAIL, PHONE_NUMBER, ...
    _s("recognizer", False),
    _s("action", False),               # redact | keep | drop (pii.entities policy)
    _s("placeholder", False),          # <|pii_<placeholder>|>
    StructField("count", LongType(), False),
    StructField("starts", ArrayType(IntegerType()), False),   # character offsets in silver.documents text
    StructField("ends", ArrayType(IntegerType()), False),
    StructField("scores", ArrayType(DoubleType()), False),
    StructField("value_hashes", ArrayType(StringType()), False),  # HMAC-SHA256(salt, value)[:16]; never values
    _s("doc_outcome", False),          # kept | pii_density | pii_policy
    _s("run_id", False),
    StructField("processed_at", TimestampType(), False),
])

GOLD_TOKENS = StructType(LINEAGE_FIELDS + [
    _s("modality", False),             # text | image | audio | video
    StructField("segment", IntegerType(), False),   # 0 for a whole text document; media segments count up
    _s("lang"),
    _s("quality_tier"),
    StructField("tokens", ArrayType(IntegerType(), False), False),  # ids in the unified vocabulary
    StructField("n_tokens", LongType(), False),
    _s("vocab_version", False),        # the vocabulary manifest the ids belong to
    # media: the segment's time range in its file and the tokenizer that made the ids (null for text)
    StructField("start_s", DoubleType()),
    StructField("end_s", DoubleType()),
    _s("tokenizer"),                   # e.g. project-audio-<sha12>, encodec24-<sha12>, with codebooks
    _s("text"),                        # images: the caption/alt text pair (export builds pairs from it)
    _s("pair_doc_id"),                 # images: the page the text came from; video shots: the shot's
                                       # audio row (and an audio row: its shot), same start_s/end_s
])

GOLD_EXPORTS = StructType([
    _s("export_id", False),            # hash of inputs + vocab + mixture + packing: same inputs, same id
    StructField("shard", IntegerType(), False),
    _s("modality", False),             # the blend group the shard belongs to
    _s("path_prefix", False),          # <prefix>.bin / <prefix>.idx (Megatron indexed dataset)
    _s("bin_sha256", False),
    _s("idx_sha256", False),
    _s("docs_sha256", False),          # <prefix>.docs.parquet: doc spans per sequence
    StructField("bytes", LongType(), False),
    StructField("n_sequences", LongType(), False),
    StructField("n_tokens", LongType(), False),        # real tokens (eod included, padding not)
    StructField("n_pad", LongType(), False),
    StructField("n_docs", LongType(), False),          # its documents: gold.export_docs
    StructField("input_versions", MapType(StringType(), LongType()), False),
    _s("vocab_version", False),
    StructField("seq_length", IntegerType(), False),
    _s("manifest_path", False),
    _s("run_id", False),
    StructField("exported_at", TimestampType(), False),
    _s("pipeline_version", False),
    # the export's mixture: phase (null for explicit shares), modality shares targeted and realised
    # (of the export's tokens, by document modality), groups repeated (modality/dataset/tier -> epochs)
    _s("phase"),
    StructField("share_target", MapType(StringType(), DoubleType())),
    StructField("share_realised", MapType(StringType(), DoubleType())),
    StructField("repeated", MapType(StringType(), DoubleType())),
])

GOLD_EXPORT_DOCS = StructType([
    _s("export_id", False),
    _s("doc_id", False),
    StructField("segment", IntegerType(), False),
    _s("modality", False),
    StructField("shards", ArrayType(IntegerType(), False), False),   # the shards that hold a copy of it
    StructField("copies", IntegerType(), False),      # times it was selected (whole repeats + one)
    _s("run_id", False),
    StructField("exported_at", TimestampType(), False),
])

GOLD_TOKEN_COUNTS = StructType([
    _s("run_id", False),               # the tokenize run that counted (a snapshot of gold.tokens)
    StructField("gold_version", LongType(), False),  # gold.tokens version counted
    _s("modality", False),
    _s("lang", False),
    _s("dataset", False),
    _s("quality_tier", False),
    StructField("docs", LongType(), False),
    StructField("tokens", LongType(), False),
    _s("vocab_version", False),
    StructField("counted_at", TimestampType(), False),
    StructField("seconds", DoubleType()),             # media: duration of the counted segments
])

OPS_RUNS = StructType([
    _s("run_id", False),
    _s("stage", False),
    _s("status", False),               # running | succeeded | failed
    _s("profile"),
    _s("config_hash", False),
    _s("config_json"),                 # the merged config (never credentials: they are not in config)
    _s("code_version", False),
    _s("args"),
    StructField("input_versions", MapType(StringType(), LongType())),
    StructField("output_versions", MapType(StringType(), LongType())),
    StructField("rows_in", LongType()),
    StructField("rows_kept", LongType()),
    StructField("rows_rejected", LongType()),
    StructField("rows_written", LongType()),   # new rows actually inserted (0 on an idempotent rerun)
    StructField("metrics", MapType(StringType(), DoubleType())),
    StructField("started_at", TimestampType(), False),
    StructField("finished_at", TimestampType()),
    StructField("duration_s", DoubleType()),
    _s("spark_app_id"),
    _s("spark_master"),
    _s("error"),
])

OPS_REJECTS = StructType([
    _s("reject_id", False),            # hash(stage, source_record or doc_id, reason): MERGE key
    _s("doc_id"),
    _s("stage", False),
    _s("reason", False),               # reason code, e.g. decode_error, truncated_archive
    _s("detail"),                      # human-readable; never a raw PII value
    _s("source_uri"),
    _s("source_record"),
    _s("dataset"),
    _s("ref_doc_id"),                  # e.g. the kept representative of a duplicate
    _s("run_id", False),
    StructField("rejected_at", TimestampType(), False),
    _s("pipeline_version", False),
])

OPS_INGEST_FILES = StructType([
    _s("file_uri", False),
    StructField("size_bytes", LongType(), False),
    StructField("modification_time", TimestampType(), False),
    _s("format", False),
    _s("dataset", False),
    StructField("records_in", LongType()),
    StructField("records_kept", LongType()),
    StructField("records_rejected", LongType()),
    _s("run_id", False),
    StructField("ingested_at", TimestampType(), False),
])

OPS_FRONTIER = StructType([
    _s("url", False),                  # normalized (pipelines/crawl/urls.py); media: the item's page URL
    _s("host", False),                 # host[:port]: the unit of politeness
    _s("kind", False),                 # page | media
    _s("dataset", False),
    StructField("depth", IntegerType(), False),   # link hops from a seed
    _s("source", False),               # seed | link | redirect | media
    _s("parent_url"),                  # the page that linked or redirected here
    _s("status", False),               # pending | fetched | redirected | rejected
    _s("reason"),                      # why rejected, or why pending again (http_503, timeout, ...)
    _s("detail"),
    StructField("attempts", IntegerType(), False),
    StructField("http_status", IntegerType()),
    StructField("next_fetch_at", TimestampType()),   # a pending URL is due from then
    StructField("fetched_at", TimestampType()),
    StructField("elapsed_s", DoubleType()),
    _s("final_url"),                   # after same-host redirects
    _s("redirect_to"),                 # a redirect to another host
    _s("warc_uri"),                    # the WARC file holding the response ...
    StructField("warc_offset", LongType()),       # ... its gzip member's offset ...
    StructField("warc_length", LongType()),       # ... and length
    _s("content_type"),
    StructField("content_length", LongType()),
    _s("license"),                     # SPDX-style, from rel=license / CC RDFa / meta / footer deed links
    _s("license_raw"),                 # media: yt-dlp's free-text licence
    _s("robots_meta"),                 # <meta name=robots> tokens (noindex, nofollow, noai, ...)
    _s("x_robots_tag"),
    _s("media_path"),                  # media: the downloaded file
    _s("added_run_id", False),
    _s("run_id"),                      # the run that last tried it
    StructField("updated_at", TimestampType(), False),
])

OPS_CRAWL_FILES = StructType([
    _s("log_uri", False),              # a segment's outcome log (its commit)
    _s("warc_uri"),                    # the segment's WARC file (null: nothing fetched in it)
    _s("dataset", False),
    _s("host"),
    StructField("urls", LongType(), False),
    StructField("fetched", LongType(), False),
    StructField("warc_bytes", LongType()),
    _s("run_id", False),               # the run that wrote it
    _s("applied_run_id", False),       # the run that applied it to ops.frontier (a later one after a kill)
    StructField("applied_at", TimestampType(), False),
])

_CDF = {"delta.enableChangeDataFeed": "true"}
# dedup's nightly marks (and --reapply's deletes) touch a few rows in many files: deletion
# vectors mark them instead of rewriting every file that holds one (bench/README.md)
_CDF_DV = {**_CDF, "delta.enableDeletionVectors": "true"}

TABLES: dict[str, TableSpec] = {t.name: t for t in [
    TableSpec("bronze.documents", BRONZE_DOCUMENTS, ("doc_id",), partition_by=("dataset",),
              description="raw text/HTML records as ingested, with source provenance", properties=_CDF),
    TableSpec("bronze.media", BRONZE_MEDIA, ("doc_id",), partition_by=("media_type",),
              description="raw audio/video/image references with probed metadata", properties=_CDF),
    TableSpec("silver.documents", SILVER_DOCUMENTS, ("doc_id",), partition_by=("lang",),
              description="extracted, normalized, language-tagged, quality-scored text", properties=_CDF_DV),
    TableSpec("silver.text_signals", TEXT_SIGNALS, ("doc_id",), lineage=False, partition_by=("decision",),
              description="heuristic signals, language and quality scores of every cleaned document, kept or "
                          "rejected: decisions can be re-applied without re-measuring"),
    TableSpec("silver.minhash", MINHASH, ("doc_id",), lineage=False, partition_by=("kept",),
              description="MinHash signatures and LSH bands of deduplicated documents: the index that "
                          "nightly dedup runs match new documents against"),
    TableSpec("silver.media_segments", SILVER_MEDIA_SEGMENTS, ("doc_id",), partition_by=("media_type",),
              description="audio speech segments, images and video shots with signals, fingerprints, "
                          "decisions and near-duplicate marks; parent_ids -> bronze.media", properties=_CDF),
    TableSpec("silver.redacted_documents", SILVER_REDACTED, ("doc_id",), partition_by=("lang",),
              description="documents that passed the license gate and PII policy, PII replaced by placeholders: "
                          "what tokenize reads", properties=_CDF),
    TableSpec("silver.pii_audit", PII_AUDIT, ("doc_id", "entity_type", "recognizer"), lineage=False,
              partition_by=("entity_type",),
              description="PII found per document, type and recognizer: counts, offsets, scores, salted hashes"),
    TableSpec("gold.tokens", GOLD_TOKENS, ("doc_id", "modality", "segment"), partition_by=("modality",),
              description="token ids per document/segment in the unified vocabulary", properties=_CDF),
    TableSpec("gold.exports", GOLD_EXPORTS, ("export_id", "shard"), lineage=False,
              description="one row per exported Megatron shard: files, checksums, doc ids, input versions"),
    TableSpec("gold.export_docs", GOLD_EXPORT_DOCS, ("export_id", "doc_id", "segment"), lineage=False,
              description="the documents of each export and the shards that hold them, written by the shard "
                          "writers (what `lakehouse lineage` and the shard query read)"),
    TableSpec("gold.token_counts", GOLD_TOKEN_COUNTS,
              ("run_id", "modality", "lang", "dataset", "quality_tier"), lineage=False,
              description="tokens by modality, language, dataset and tier, per tokenize run"),
    TableSpec("ops.runs", OPS_RUNS, ("run_id",), lineage=False,
              description="one row per stage run: config hash, code version, Delta versions, counts"),
    TableSpec("ops.rejects", OPS_REJECTS, ("reject_id",), lineage=False, partition_by=("stage",),
              description="every dropped row with stage, reason code and run id"),
    TableSpec("ops.frontier", OPS_FRONTIER, ("url",), lineage=False,
              description="the crawl frontier: one row per normalized URL (and media item) with its fetch state, "
                          "retry schedule, WARC location, licence and robots signals", properties=_CDF),
    TableSpec("ops.crawl_files", OPS_CRAWL_FILES, ("log_uri",), lineage=False,
              description="the WARC segments crawl runs produced, and which run applied each to ops.frontier"),
    TableSpec("ops.ingest_files", OPS_INGEST_FILES, ("file_uri", "size_bytes", "modification_time"),
              lineage=False, description="input files already ingested (size + mtime), so reruns skip them"),
]}

DATABASES = ("bronze", "silver", "gold", "ops")


def table(name: str) -> TableSpec:
    try:
        return TABLES[name]
    except KeyError:
        raise KeyError(f"unknown table {name!r}; known: {sorted(TABLES)}") from None
