"""Audio stage throughput: decode + resample + VAD per core, fingerprints, the codecs, and the
whole stage through Spark, on an hour (by default) of synthesised and generated audio.

    python bench/audio_bench.py [--hours 1] [--cores 2] [--encodec-minutes 20]

Corpus (cached in build/bench-audio/): 5-minute files of espeak-ng speech in eight
languages with pauses, every third one mixed with tones and noise, written in rotation
as WAV, MP3, Opus, AAC (.m4a) and FLAC. Measured:
1. one process, one core: decode (PyAV) + resample (soxr, 16 kHz) + webrtcvad, then the
   Haitsma-Kalker fingerprints (8 kHz stream), as real-time factors (audio seconds per
   second); peak memory of analysing one file three times as long as the corpus (bounded by
   the decode chunk, not the length);
2. codecs, one process, one core (torch threads = 1), 15 s segments: the project's codec and
   Encodec 24 kHz at 8 codebooks (the official architecture, random weights: speed only);
3. the `lakehouse audio` stage on local[cores] over the corpus with the project codec
   (segments, near-duplicates, tokens), and the token step again with Encodec (random
   weights saved as a checkpoint, the real code path) over --encodec-minutes of audio;
   real-time factors per core.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, bench_config, save  # noqa: E402

CORPUS = ROOT / "build" / "bench-audio"
LANGS = ("en", "de", "fr", "es", "zh", "ru", "it", "pt")
FORMATS = (("wav", None, None), ("mp3", "mp3", 64000), ("opus", "libopus", 32000), ("m4a", "aac", 64000),
           ("flac", "flac", None))
FILE_S = 300


def make_corpus(hours: float) -> list[Path]:
    """5-minute files; cached (the manifest lists them)."""
    from quality_models.speech import ESPEAK_RATE, encode_file, speech, tones_and_noise, write_wav

    n = max(1, round(hours * 3600 / FILE_S))
    manifest = CORPUS / f"manifest-{n}.jsonl"
    if manifest.exists():
        return [CORPUS / json.loads(line)["path"] for line in manifest.read_text().splitlines()]
    CORPUS.mkdir(parents=True, exist_ok=True)
    files = []
    for k in range(n):
        lang = LANGS[k % len(LANGS)]
        x = speech(lang, FILE_S, seed=500 + k, skip=k * 7)
        if k % 3 == 2:
            x = 0.7 * x + 0.3 * tones_and_noise(FILE_S, ESPEAK_RATE, seed=k)[: x.size]
        ext, codec, rate = FORMATS[k % len(FORMATS)]
        path = CORPUS / f"talk-{k:04d}-{lang}.{ext}"
        write_wav(path, x, ESPEAK_RATE) if codec is None else encode_file(path, x, ESPEAK_RATE, codec, rate)
        files.append(path)
    manifest.write_text("".join(json.dumps({"path": f.name, "license": "CC0-1.0", "lang": f.stem.rsplit("-", 1)[1]})
                                + "\n" for f in files))
    return files


def one_core(files: list[Path]) -> dict:
    from pipelines.audio import fingerprint as fpm
    from pipelines.audio.decode import decode
    from pipelines.audio.vad import FrameStats

    audio_s = t_dec = t_vad = t_fp = 0.0
    for f in files:
        stats, fp = FrameStats(30, 2), fpm.Fingerprinter()
        t = time.perf_counter()
        chunks = list(decode(str(f), (16000, fpm.RATE), 10.0))
        t_dec += time.perf_counter() - t
        t = time.perf_counter()
        for x16, _ in chunks:
            stats.feed(x16)
        stats.result()
        t_vad += time.perf_counter() - t
        t = time.perf_counter()
        for _, x8 in chunks:
            fp.feed(x8)
        t_fp += time.perf_counter() - t
        audio_s += sum(c[0].size for c in chunks) / 16000
    return {"audio_seconds": round(audio_s, 1), "decode_resample_x": round(audio_s / t_dec, 1),
            "vad_x": round(audio_s / t_vad, 1), "decode_resample_vad_x": round(audio_s / (t_dec + t_vad), 1),
            "fingerprint_x": round(audio_s / t_fp, 1),
            "analyze_x": round(audio_s / (t_dec + t_vad + t_fp), 1)}


def long_file_memory(files: list[Path], out: Path) -> dict:
    """Concatenate `files` into one MP3 and analyse it in a fresh process: its peak RSS against
    that of a process that only imports the same modules."""
    import subprocess

    from quality_models.speech import ESPEAK_RATE

    if not out.exists():
        import av
        with av.open(str(out), "w") as dst:
            st = dst.add_stream("mp3", rate=ESPEAK_RATE, layout="mono")
            st.bit_rate = 64000
            from pipelines.audio.decode import decode
            for f in files:
                for (x,) in decode(str(f), (ESPEAK_RATE,), 10.0):
                    pcm = (np.clip(x, -1, 1) * 32767).astype("<i2")[None]
                    frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="mono")
                    frame.sample_rate = ESPEAK_RATE
                    for p in st.encode(frame):
                        dst.mux(p)
            for p in st.encode(None):
                dst.mux(p)
    code = ("import resource, time, json; from pipelines.audio.analyze import analyze, AnalyzeParams; "
            f"t = time.perf_counter(); f, s = analyze({str(out)!r}, AnalyzeParams()); "
            "print(json.dumps({'seconds': f['duration_s'], 'segments': len(s), 'wall': time.perf_counter() - t, "
            "'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    base = ("import resource, json, pipelines.audio.analyze, av, soxr, webrtcvad; "
            "print(json.dumps({'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))")
    run = (lambda c: json.loads(subprocess.run([sys.executable, "-c", c], cwd=ROOT, capture_output=True, text=True,
                                               check=True).stdout.strip().splitlines()[-1]))
    r, b = run(code), run(base)
    return {"file_hours": round(r["seconds"] / 3600, 2), "segments": r["segments"],
            "analyze_x": round(r["seconds"] / r["wall"], 1), "peak_rss_mib": round(r["peak_rss_mib"]),
            "imports_only_rss_mib": round(b["peak_rss_mib"])}


def codecs_one_core(files: list[Path], seconds: float = 120.0) -> dict:
    import torch

    from pipelines.audio.decode import decode
    from tokenize_jobs.audio import EncodecCodec, load_codec

    torch.set_num_threads(1)
    x = np.concatenate([c for (c,) in decode(str(files[0]), (24000,), 10.0)])[: int(seconds * 24000)]
    segs = [x[i:i + 15 * 24000] for i in range(0, x.size, 15 * 24000)]
    out = {}
    for name, codec in (("project", load_codec("project", None, None, 8, "cpu")),
                        ("encodec_24khz_8cb", EncodecCodec(None, None, 8, random_weights=True))):
        codec.encode(segs[0][:24000], 8)                 # warm-up
        t = time.perf_counter()
        for s in segs:
            codec.encode(s, 8)
        out[f"{name}_x"] = round(x.size / 24000 / (time.perf_counter() - t), 2)
    out["params_encodec"] = sum(p.numel() for p in EncodecCodec(None, None, 8, random_weights=True).model.parameters())
    out["params_project"] = sum(p.numel() for p in load_codec("project", None, None, 8, "cpu").model.parameters())
    out["cuda"] = torch.cuda.is_available()
    return out


def spark_stage(files: list[Path], cores: int, encodec_minutes: float) -> dict:
    import torch

    from jobs.audio import run_audio
    from jobs.common.config import updated
    from jobs.common.lake import Lake
    from jobs.common.spark import get_spark
    from jobs.ingest import run_ingest

    work = ROOT / "build" / "bench-audio-lake"
    shutil.rmtree(work, ignore_errors=True)
    cfg = bench_config(work / "lake", cores)
    manifest = CORPUS / f"manifest-{len(files)}.jsonl"
    os.environ.setdefault("OMP_NUM_THREADS", "1")        # one torch thread per Spark task
    spark = get_spark(cfg, "bench-audio")
    lake = Lake(spark, cfg["lake"]["root"])
    t = time.perf_counter()
    run_ingest(spark, lake, cfg, [], "talks", manifest=str(manifest))
    ingest_s = time.perf_counter() - t
    with PeakMemory(match="pyspark") as mem:
        t = time.perf_counter()
        s = run_audio(spark, lake, cfg)
        stage_s = time.perf_counter() - t
    run = lake.read("ops.runs").where(f"run_id = '{s['run_id']}'").first()
    m = run["metrics"]
    audio_s = m["segment_seconds"]
    tok_s = m["audio_seconds_tokenized"]
    out = {"files": s["files_in"], "segments": s["segments"], "near_duplicates": s["near_duplicates"],
           "audio_hours_segmented": round(audio_s / 3600, 3), "tokens": s["new_tokens"],
           "ingest_seconds": round(ingest_s, 1), "stage_seconds": round(stage_s, 1),
           "steps_seconds": {k: round(v, 1) for k, v in m.items() if k.endswith("_wall") or k in
                             ("near_dup_seconds", "tokenize_seconds")},
           "segment_step_x_per_core": round(audio_s / m["segment_seconds_wall"] / cores, 1),
           "project_codec_step_x_per_core": round(tok_s / m["tokenize_seconds"] / cores, 1),
           "stage_x_per_core": round(audio_s / stage_s / cores, 1),
           "peak_memory_gib": round(mem.peak / 2**30, 2), "python_workers_peak_gib": round(mem.peak_matching / 2**30, 2)}
    # Encodec through the real path: its architecture's random weights saved as a checkpoint
    from encodec import EncodecModel
    ckpt = work / "encodec24-random.th"
    torch.save(EncodecModel.encodec_model_24khz(pretrained=False).state_dict(), ckpt)
    lake2 = Lake(spark, str(work / "lake-encodec"))
    n = max(1, round(encodec_minutes * 60 / FILE_S))
    sub = CORPUS / f"manifest-encodec-{n}.jsonl"
    sub.write_text("".join(manifest.read_text().splitlines(True)[:n]))
    cfg2 = updated(cfg, {"lake": {"root": str(work / "lake-encodec")},
                         "audio": {"tokenizer": {"codec": "encodec", "checkpoint": str(ckpt)}}})
    run_ingest(spark, lake2, cfg2, [], "talks", manifest=str(sub))
    s2 = run_audio(spark, lake2, cfg2)
    m2 = lake2.read("ops.runs").where(f"run_id = '{s2['run_id']}'").first()["metrics"]
    out["encodec_step"] = {"audio_minutes_tokenized": round(m2["audio_seconds_tokenized"] / 60, 1),
                           "tokenize_seconds": round(m2["tokenize_seconds"], 1),
                           "x_per_core": round(m2["audio_seconds_tokenized"] / m2["tokenize_seconds"] / cores, 2),
                           "codec_x_in_tasks": round(m2["audio_seconds_tokenized"] / m2["codec_seconds"], 2),
                           "tokens": s2["new_tokens"]}
    out["project_codec_x_in_tasks"] = round(tok_s / m["codec_seconds"], 1)
    spark.stop()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--hours", type=float, default=1.0)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--encodec-minutes", type=float, default=20.0)
    args = ap.parse_args()
    t = time.perf_counter()
    files = make_corpus(args.hours)
    result = {"hours": args.hours, "cores": args.cores, "files": len(files),
              "corpus_seconds": round(time.perf_counter() - t, 1)}
    result["one_core"] = one_core(files)
    print(json.dumps(result, indent=1), flush=True)
    result["long_file"] = long_file_memory(files * 3, CORPUS / f"long-{3 * len(files)}.mp3")
    result["codecs_one_core"] = codecs_one_core(files)
    print(json.dumps(result, indent=1), flush=True)
    result["spark"] = spark_stage(files, args.cores, args.encodec_minutes)
    result["self_peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(result, indent=1))
    print(f"-> {save(f'audio-{args.hours:g}h', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
