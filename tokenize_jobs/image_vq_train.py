"""Train the project's visual tokenizer (tokenize_jobs/image_vq.py PROJECT) on CPU, offline.

    python -m tokenize_jobs.image_vq_train train [--force]      (run once by `make setup`)

Data (quality_models/images.py): random crops of ten scikit-image photographs (flipped,
jittered) and generated images (gradients, shapes, rendered text). Held out, never seen in
training: the photographs `coffee` and `camera` and generated images of another seed,
each at 256x256 (the stage's input). The network is fully convolutional, so it trains on
small crops (cheap on CPU) and tokenizes 256x256 into 16x16 codes.

Saved in ~/.cache/lakehouse/models/image-vq/<recipe hash>/ (LAKEHOUSE_MODELS_DIR): model.pt
and report.json with the held-out PSNR, codebook utilisation and two floors a tokenizer
must beat to be worth its bits: every image as its mean colour, and every 16x16 patch as
its mean colour quantised to 14 bits (5-5-4: the same 14 bits a code of 16,384 carries).
Training refuses to save a model that does not beat the first by 3 dB.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from tokenize_jobs.image_vq import PROJECT, VQTokenizer, build, psnr, save, to_tensor

TRAIN_PHOTOS = ("astronaut", "chelsea", "hubble_deep_field", "retina", "rocket", "ihc", "coins", "brick",
                "grass", "gravel")
HELD_OUT_PHOTOS = ("coffee", "camera")


@dataclass(frozen=True)
class Recipe:
    steps: int = 1200
    batch: int = 16
    crop: int = 96
    mse_weight: float = 2.0
    generated_share: float = 0.3
    lr: float = 3e-3
    seed: int = 11
    held_out_generated: int = 6
    version: int = 1

    def digest(self) -> str:
        blob = json.dumps({"recipe": asdict(self), "arch": asdict(PROJECT)}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def models_root() -> Path:
    from quality_models.models import models_dir

    return models_dir() / "image-vq"


def default_folder(r: Recipe = Recipe()) -> Path:
    return models_root() / r.digest()


def held_out_images(r: Recipe = Recipe(), size: int = 256) -> list[np.ndarray]:
    from quality_models.images import fit, generated, photo

    rng = np.random.default_rng(r.seed + 1000)
    return [fit(photo(n), size) for n in HELD_OUT_PHOTOS] + [generated(size, rng) for _ in range(r.held_out_generated)]


def _floors(img: np.ndarray, patch: int = 16) -> dict:
    flat = np.broadcast_to(img.reshape(-1, 3).mean(0), img.shape)
    h, w = img.shape[:2]
    means = img.reshape(h // patch, patch, w // patch, patch, 3).mean((1, 3))
    step = np.array([8.0, 8.0, 16.0])                           # 5-5-4 bits
    q = np.floor(means / step) * step + step / 2
    return {"mean_colour": psnr(img, flat), "patch_colour_14bit": psnr(img, np.kron(q, np.ones((patch, patch, 1))))}


def evaluate(tok: VQTokenizer, images: list[np.ndarray]) -> dict:
    codes = tok.encode(images)
    recon = tok.decode(codes)
    scores = [psnr(a, b) for a, b in zip(images, recon)]
    floors = [_floors(a) for a in images]
    return {"psnr_db": float(np.mean(scores)), "per_image_psnr_db": [round(s, 2) for s in scores],
            "floors_psnr_db": {k: float(np.mean([f[k] for f in floors])) for k in floors[0]},
            "codes_used": int(np.unique(codes).size), "codebook_utilisation": float(np.unique(codes).size / tok.codes),
            "grid": list(codes.shape[1:]), "images": len(images)}


def train(r: Recipe = Recipe(), folder: Path | None = None, log=print) -> Path:
    """Train, evaluate on the held-out images, save model.pt + report.json (atomically)."""
    import torch

    from quality_models.images import generated, photo, random_crop

    folder = Path(folder or default_folder(r))
    torch.manual_seed(r.seed)
    rng = np.random.default_rng(r.seed)
    photos = [photo(n) for n in TRAIN_PHOTOS]
    model = build(PROJECT)
    opt = torch.optim.Adam(model.parameters(), lr=r.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, r.lr, total_steps=r.steps, pct_start=0.1)
    t0 = time.monotonic()
    for step in range(r.steps):
        batch = [generated(r.crop, rng) if rng.random() < r.generated_share
                 else random_crop(photos[rng.integers(len(photos))], r.crop, rng) for _ in range(r.batch)]
        x = to_tensor(batch)
        y, _, commit = model(x)
        loss = (x - y).abs().mean() + r.mse_weight * ((x - y) ** 2).mean() + commit
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if step % 200 == 0 or step == r.steps - 1:
            log(f"image vq: step {step} loss {loss.item():.4f} ({time.monotonic() - t0:.0f} s)")
    tmp = folder.with_name(folder.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    sha = save(model, PROJECT, tmp)
    tok = VQTokenizer(tmp, sha)
    report = {"model_sha256": sha, "recipe": asdict(r), "arch": asdict(PROJECT), "recipe_digest": r.digest(),
              "train_seconds": round(time.monotonic() - t0, 1), "train_photos": list(TRAIN_PHOTOS),
              "held_out_photos": list(HELD_OUT_PHOTOS), "held_out": evaluate(tok, held_out_images(r))}
    ho = report["held_out"]
    if ho["psnr_db"] < ho["floors_psnr_db"]["mean_colour"] + 3:
        raise RuntimeError(f"the trained image tokenizer does not beat the mean-colour floor: {json.dumps(ho)}")
    (tmp / "report.json").write_text(json.dumps(report, indent=1))
    if folder.exists():
        shutil.rmtree(folder)
    os.replace(tmp, folder)
    log(f"image vq: {folder} held-out PSNR {ho['psnr_db']:.2f} dB (floors {ho['floors_psnr_db']}), "
        f"{ho['codes_used']} codes used")
    return folder


def main(argv: list[str] | None = None) -> int:
    from quality_models.models import train_main

    args = sys.argv[1:] if argv is None else argv
    return train_main("image vq", "tokenize_jobs.image_vq_train", default_folder(), train, args)


if __name__ == "__main__":
    sys.exit(main())
