"""Video stage throughput: decode + shot detection + signals, frame sampling, tokenization.

    python bench/video_bench.py [--videos 8] [--copies 12] [--seconds 30] [--stage-videos 4] [--cores 2]

Corpus (cached in build/bench-video/): --videos distinct H.264/AAC MP4s of --seconds each at
30 fps, at 720p and at 360p, camera-like (corpora/videos.py `footage`: scenes of panning
photographs with film grain, hard cuts every 2-5 s, a moving shape, rendered text,
espeak-ng speech; ~3 Mbit/s at 720p, where flat synthetic colours encode at 0.2 and decode
3x faster than real footage would), each listed --copies times under other names
(hard links: separate bronze rows, decoded separately) for the Spark runs. Measured:
1. one process, one core: the shots pass (decode with deblocking skipped, PySceneDetect's
   ContentDetector on 160-px frames, per-frame signals, keyframe hashes, and the audio
   track's VAD) per resolution, as video seconds per wall second; peak RSS of the process
   on one video of --long-seconds (streaming: it does not grow with the length);
2. through Spark on local[cores]: ingest, then the stage's shot step alone (decode, shots,
   signals, rules, the MERGE and reject writes, counts) per resolution, per core;
3. frame sampling, one core: full decode + 6 fps sampling by timestamp + conversion to the
   256x256 tokenizer input, no encoding;
4. tokenization, one core (torch threads = 1): frames/s of the project's VQ and of the
   full-size VQGAN-f16 (random weights: speed only), as video seconds per second at 6 fps;
5. the whole `lakehouse video` run (shots, near-duplicates, project VQ + project audio
   codec tokens) on the first --stage-videos 360p videos.
"""
from __future__ import annotations

import argparse
import functools
import json
import random
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PeakMemory, fresh_lake, save  # noqa: E402

CORPUS = ROOT / "build" / "bench-video"
RESOLUTIONS = {"720p": (1280, 720), "360p": (640, 360)}
FPS = 30


def spec_of(k: int, seconds: float, width: int, height: int):
    from corpora.videos import Spec

    rng = random.Random(k)
    frames = int(seconds * FPS)
    cuts, at = [], 0
    while True:
        at += rng.randint(2 * FPS, 5 * FPS)
        if at >= frames:
            break
        cuts.append(at)
    return Spec(frames=frames, cuts=cuts, width=width, height=height, fps=FPS, seed=k, label=f"Clip {k}",
                speech_lang=("en", "de", "fr", "zh")[k % 4], footage=True)


def make_corpus(n: int, seconds: float, copies: int) -> dict[str, Path]:
    """{resolution: manifest}: the distinct videos first, then their copies; written once."""
    import json as js
    import os

    from corpora.videos import write

    out = {}
    for res, (w, h) in RESOLUTIONS.items():
        folder = CORPUS / f"{res}-{int(seconds)}s-footage"
        folder.mkdir(parents=True, exist_ok=True)
        names = []
        for k in range(n):
            path = folder / f"clip-{k:04d}.mp4"
            if not path.exists():
                write(path, spec_of(k, seconds, w, h))
            names.append(path.name)
        for j in range(1, copies):
            for k in range(n):
                link = folder / f"clip-{k:04d}-copy{j:02d}.mp4"
                if not link.exists():
                    os.link(folder / f"clip-{k:04d}.mp4", link)
                names.append(link.name)
        (folder / "manifest.jsonl").write_text("".join(js.dumps({"path": x, "license": "CC-BY-4.0"}) + "\n"
                                                       for x in names))
        out[res] = folder / "manifest.jsonl"
    return out


def _files(manifest: Path) -> list[Path]:
    return [manifest.parent / json.loads(x)["path"] for x in manifest.read_text().splitlines()]


def one_core_shots(manifest: Path, limit: int = 6) -> dict:
    from pipelines.video.shots import ShotParams, analyze

    """Video seconds per wall second of the shots pass, and its cuts against the generator's
    (a detected cut within one frame of a true one is a hit)."""
    files = _files(manifest)[:limit]
    w, h = RESOLUTIONS[manifest.parent.name.split("-")[0]]
    t0, secs, shots, hits, found, true = time.perf_counter(), 0.0, 0, 0, 0, 0
    for k, f in enumerate(files):
        info, s = analyze(functools.partial(open, f, "rb"), ShotParams())
        secs += info.end_s
        shots += len(s)
        want = spec_of(k, round(info.end_s), w, h).cuts
        got = [round(x["start_s"] * FPS) for x in s[1:]]
        hits += sum(1 for c in got if any(abs(c - t) <= 1 for t in want))
        found, true = found + len(got), true + len(want)
    wall = time.perf_counter() - t0
    return {"videos": len(files), "video_s": round(secs, 1), "shots": shots, "realtime_x": round(secs / wall, 1),
            "cut_precision": round(hits / found, 3) if found else None,
            "cut_recall": round(hits / true, 3) if true else None}


def long_video_memory(seconds: float) -> dict:
    """Peak RSS (VmHWM: ru_maxrss carries the parent's over fork+exec) of a child process
    running the shots pass on one long 720p video, after its imports, against the same on a
    10 s one: streaming keeps it flat."""
    import subprocess

    from corpora.videos import write

    out = {}
    for name, secs in (("short", 10.0), ("long", seconds)):
        path = CORPUS / f"memory-{int(secs)}s.mp4"
        if not path.exists():
            write(path, spec_of(999, secs, *RESOLUTIONS["720p"]))
        code = "\n".join([
            "import sys", f"sys.path.insert(0, {str(ROOT)!r})",
            "from pipelines.video.shots import ShotParams, analyze",
            "import scenedetect, imagehash, av",
            "hwm = lambda: int(next(x for x in open('/proc/self/status') if x.startswith('VmHWM')).split()[1])",
            "base = hwm()",
            f"info, s = analyze(lambda: open({str(path)!r}, 'rb'), ShotParams())",
            "print(base, hwm(), info.end_s, len(s))"])
        base, peak, end, n = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                            check=True).stdout.split()
        out[name] = {"video_s": round(float(end), 1), "shots": int(n), "rss_after_imports_mib": int(base) // 1024,
                     "peak_rss_mib": int(peak) // 1024}
    return out


def _lake(name: str, cores: int):
    return fresh_lake(ROOT / "build" / name, name, cores)


def spark_shots(manifest: Path, cores: int, name: str) -> dict:
    """Ingest, then the stage's shot step alone, inside a StageRun like the stage's."""
    from jobs.common.runs import StageRun
    from jobs.ingest import run_ingest
    from jobs.video import cut_shots

    spark, lake, cfg = _lake(f"bench-video-{name}", cores)
    t0 = time.monotonic()
    run_ingest(spark, lake, cfg, [], "bench", manifest=str(manifest))
    ingest_s = time.monotonic() - t0
    with PeakMemory(match="pyspark") as mem:
        t0 = time.monotonic()
        with StageRun(lake, "video", cfg, {"bench": "shots only"}) as run:
            got = cut_shots(spark, lake, cfg, run, None)
            run.count(rows_in=got["videos_in"], kept=got["videos_cut"], rejected=got["videos_rejected"],
                      written=got["shots"])
        secs = time.monotonic() - t0
    video_s = lake.read("silver.media_segments").selectExpr("sum(end_s - start_s)").first()[0]
    spark.stop()
    return {"videos": got["videos_in"], "video_s": round(video_s, 1), "shots": got["shots"],
            "ingest_s": round(ingest_s, 1), "shots_step_s": round(secs, 1),
            "realtime_x_per_core": round(video_s / secs / cores, 1),
            "peak_rss_all_mib": mem.peak // 2**20, "peak_rss_jvm_and_workers_mib": mem.peak_matching // 2**20}


def frame_sampling(manifest: Path, limit: int = 2) -> dict:
    from pipelines.video.decode import VideoInfo, frames, to_array
    from tokenize_jobs.video import centre_crop, input_width, sample, sample_times

    t0, secs, n = time.perf_counter(), 0.0, 0
    for f in _files(manifest)[:limit]:
        info = VideoInfo()
        targets = sample_times(0.0, 30.0, 6.0)
        width = None
        for _, fr in sample(frames(str(f), info, fmt=None), targets):
            width = width or input_width(info.width, info.height, 256, "crop")
            centre_crop(to_array(fr, info, width, "rgb24"), 256)
            n += 1
        secs += info.end_s
    wall = time.perf_counter() - t0
    return {"video_s": round(secs, 1), "frames": n, "realtime_x": round(secs / wall, 1)}


def tokenizers_one_core(n: int = 12) -> dict:
    import numpy as np
    import torch

    from tokenize_jobs.image_vq import FULL, VQTokenizer
    from tokenize_jobs.image_vq_train import default_folder

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (256, 256, 3), dtype=np.uint8) for _ in range(n)]
    out = {}
    for name, tok in (("project", VQTokenizer(default_folder())),
                      ("vqgan_f16_full", VQTokenizer(random_weights=True, arch=FULL))):
        tok.encode(frames[:1])
        k = n if name == "project" else max(2, n // 4)
        t0 = time.perf_counter()
        for i in range(k):
            tok.encode(frames[i:i + 1])
        fps = k / (time.perf_counter() - t0)
        out[name] = {"params_m": round(sum(p.numel() for p in tok.model.parameters()) / 1e6, 1),
                     "frames_per_s": round(fps, 2), "video_realtime_x_at_6fps": round(fps / 6, 3)}
    return out


def spark_stage(manifest: Path, n: int, cores: int) -> dict:
    from jobs.ingest import run_ingest
    from jobs.video import run_video

    sub = manifest.with_name(f"subset-{n}.jsonl")
    sub.write_text("\n".join(manifest.read_text().splitlines()[:n]) + "\n")
    spark, lake, cfg = _lake("bench-video-stage", cores)
    run_ingest(spark, lake, cfg, [], "bench", manifest=str(sub))
    with PeakMemory(match="pyspark") as mem:
        out = run_video(spark, lake, cfg)
    m = lake.read("ops.runs").where(f"run_id = '{out['run_id']}'").first()["metrics"]
    spark.stop()
    return {"videos": out["videos_in"], "video_s": round(m["video_seconds"], 1), "shots": out["shots"],
            "shots_s": round(m["shots_seconds"], 1), "near_dup_s": round(m["near_dup_seconds"], 1),
            "tokenize_s": round(m["tokenize_seconds"], 1), "stage_s": out["seconds"],
            "stage_realtime_x_per_core": round(m["video_seconds"] / out["seconds"] / cores, 3),
            "frames_tokenized": m["frames_tokenized"], "video_tokens_per_second": round(m["video_tokens_per_second"], 1),
            "token_rows": out["token_rows"], "new_tokens": out["new_tokens"],
            "peak_rss_all_mib": mem.peak // 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--videos", type=int, default=8, help="distinct videos per resolution")
    ap.add_argument("--copies", type=int, default=12, help="times each is listed (hard links) for the Spark runs")
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--long-seconds", type=float, default=600.0)
    ap.add_argument("--stage-videos", type=int, default=4)
    ap.add_argument("--cores", type=int, default=2)
    args = ap.parse_args()
    t = time.perf_counter()
    manifests = make_corpus(args.videos, args.seconds, args.copies)
    result = {"videos": args.videos, "copies": args.copies, "seconds_each": args.seconds, "cores": args.cores,
              "corpus_seconds": round(time.perf_counter() - t, 1), "gpu": "none on this machine (CPU only)"}
    result["one_core_shots"] = {res: one_core_shots(m) for res, m in manifests.items()}
    result["memory"] = long_video_memory(args.long_seconds)
    result["frame_sampling_one_core"] = {res: frame_sampling(m) for res, m in manifests.items()}
    result["tokenizers_one_core"] = tokenizers_one_core()
    print(json.dumps(result, indent=1), flush=True)
    result["spark_shots"] = {res: spark_shots(m, args.cores, res) for res, m in manifests.items()}
    print(json.dumps(result, indent=1), flush=True)
    result["spark_stage_360p"] = spark_stage(manifests["360p"], args.stage_videos, args.cores)
    result["driver_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(json.dumps(result, indent=1))
    print(f"-> {save(f'video-{args.videos * args.copies}x{int(args.seconds)}s', result)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
