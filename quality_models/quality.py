"""The fastText quality classifier: train, evaluate on a held-out split, version, apply.

    python -m quality_models.quality train     # writes quality-<version>.bin + .json to the models dir

The version is a hash of the training data and parameters, so a change of either gives a
new file next to the old one, never a silent replacement. The JSON beside the model holds
precision/recall/F1 on a 20% split of the training corpus (`accuracy`, `hq`, `lq`) and on
the held-out sources and junk kinds no training example came from (`heldout`, with each
group's share classed hq), see quality_models/training_data.py. Scores are P(hq); tiers come
from config thresholds.
"""
from __future__ import annotations

import collections
import hashlib
import json
import logging
import os
import re
import sys
import tempfile
from pathlib import Path

from quality_models.models import load_fasttext, models_dir
from quality_models.training_data import corpus

log = logging.getLogger("lakehouse")
PARAMS = {"epoch": 25, "lr": 0.5, "wordNgrams": 2, "dim": 32, "minn": 2, "maxn": 4, "bucket": 200000,
          "loss": "softmax", "thread": 1, "seed": 0}
HOLDOUT = 0.2
MAX_CHARS = 4000
_WS = re.compile(r"\s+")
# CJK characters become tokens of their own (str.translate: C speed, unlike a regex template)
_SPLIT_CJK = {cp: f" {chr(cp)} " for lo, hi in ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF))
              for cp in range(lo, hi + 1)}


def prep(text: str) -> str:
    """What the model sees: lower-cased, CJK characters split into tokens, one line."""
    return _WS.sub(" ", text[:MAX_CHARS].lower().translate(_SPLIT_CJK)).strip()


def _train_in_child(path: str, out: str) -> None:
    import fasttext

    fasttext.FastText.eprint = lambda *a, **k: None
    fasttext.train_supervised(input=path, verbose=0, **PARAMS).save_model(out)


def healthy(model, probe: list[tuple[str, str]], max_confidently_wrong: float = 0.02) -> bool:
    """Finite weights, P(hq) + P(lq) = 1, and at most `max_confidently_wrong` of the labelled
    probe texts [(label, text)] given over 0.99 for the wrong label (a well-trained model here:
    0.26% of its examples). A CI run once kept a model that passed its held-out F1 yet scored
    a clean training-like text P(hq) = 1e-5 without any NaN error; these checks catch a
    saturated or broken model of that kind, so it is trained again."""
    import numpy as np

    if not (np.isfinite(model.get_input_matrix()).all() and np.isfinite(model.get_output_matrix()).all()):
        return False
    if not probe:
        return True
    labels, probs = model.predict([prep(t) for _, t in probe], k=2)
    wrong = 0
    for (truth, _), labs, ps in zip(probe, labels, probs):
        if len(ps) != 2 or abs(float(ps[0]) + float(ps[1]) - 1.0) > 0.01:
            return False
        wrong += labs[0] != f"__label__{truth}" and float(ps[0]) > 0.99
    return wrong <= max_confidently_wrong * len(probe)


def _train_supervised(fasttext, path: str, tries: int = 5, probe: list[tuple[str, str]] = ()):
    """fasttext-numpy2 0.10.4 now and then stops with "Encountered NaN" on the same data, seed and
    single thread (1 run in ~3-8 here, more often after torch has run in the process; a CI run
    saw five in a row), or, rarer, ends with a model whose softmax is broken (see `healthy`):
    not a divergence (it happens at lr 0.2 too), so the same training is run again, and after
    `tries` in this process, in fresh processes (spawned: no torch, a clean floating-point
    state), whose model is loaded here."""
    for attempt in range(1, tries + 1):
        try:
            model = fasttext.train_supervised(input=path, verbose=0, **PARAMS)
        except RuntimeError as e:
            if "NaN" not in str(e):
                raise
            log.warning("fastText training stopped on NaN (attempt %d of %d); training again", attempt, tries)
            continue
        if healthy(model, probe):
            return model
        log.warning("fastText training gave a broken model (attempt %d of %d); training again", attempt, tries)
    import multiprocessing

    out = f"{path}.{os.getpid()}.bin"
    for attempt in range(1, tries + 1):
        child = multiprocessing.get_context("spawn").Process(target=_train_in_child, args=(path, out))
        child.start()
        child.join()
        if child.exitcode == 0:
            model = fasttext.load_model(out)
            os.unlink(out)
            if healthy(model, probe):
                return model
        log.warning("fastText training in a fresh process failed (attempt %d of %d)", attempt, tries)
    raise RuntimeError(f"fastText training failed (NaN or a broken model) {tries} times here and {tries} times "
                       "in fresh processes")


def model_version(seed: int = 0, c: dict | None = None) -> str:
    """A hash of the corpus (`c`, or this recipe's, read from the models dir) and PARAMS."""
    c = c or corpus(seed)
    data = json.dumps([c["train"], c["heldout"], PARAMS], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(data).hexdigest()[:12]


def _prf(y_true: list[str], y_pred: list[str], pos: str) -> dict:
    tp = sum(1 for t, p in zip(y_true, y_pred) if t == pos and p == pos)
    fp = sum(1 for t, p in zip(y_true, y_pred) if t != pos and p == pos)
    fn = sum(1 for t, p in zip(y_true, y_pred) if t == pos and p != pos)
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {"precision": round(prec, 4), "recall": round(rec, 4),
            "f1": round(2 * prec * rec / (prec + rec), 4) if prec + rec else 0.0, "support": tp + fn}


def _evaluate(model, labelled: list[tuple[str, str]], groups: list[str] | None = None) -> dict:
    """Accuracy and per-label P/R/F1 at the argmax; with groups, each group's share over P(hq) 0.5."""
    pred = [lab[0].replace("__label__", "") for lab in model.predict([prep(t) for _, t in labelled])[0]]
    truth = [lab for lab, _ in labelled]
    out = {"examples": len(truth), "accuracy": round(sum(p == t for p, t in zip(pred, truth)) / len(truth), 4),
           "hq": _prf(truth, pred, "hq"), "lq": _prf(truth, pred, "lq")}
    if groups:
        by: dict[str, list[bool]] = collections.defaultdict(list)
        for g, p in zip(groups, pred):
            by[g].append(p == "hq")
        out["hq_share"] = {g: round(sum(v) / len(v), 4) for g, v in sorted(by.items())}
    return out


def train(out_dir: Path | None = None, seed: int = 0) -> Path:
    """Train, evaluate on the held-out split, write model + metrics; return the model path."""
    import fasttext

    out_dir = Path(out_dir or models_dir())
    out_dir.mkdir(parents=True, exist_ok=True)
    c = corpus(seed)
    data = [(e["label"], e["text"]) for e in c["train"]]
    version = model_version(seed, c)
    split = int(len(data) * (1 - HOLDOUT))
    train_set, test_set = data[:split], data[split:]
    with tempfile.NamedTemporaryFile("w", suffix=".txt", encoding="utf-8", delete=False) as fh:
        for label, text in train_set:
            fh.write(f"__label__{label} {prep(text)}\n")
    fasttext.FastText.eprint = lambda *a, **k: None
    model = _train_supervised(fasttext, fh.name, probe=data)
    Path(fh.name).unlink()
    metrics = {"version": version, "params": PARAMS, "train_examples": len(train_set),
               "train_groups": dict(sorted(collections.Counter(e["group"] for e in c["train"]).items())),
               "test_examples": len(test_set), **_evaluate(model, test_set),
               "heldout": _evaluate(model, [(e["label"], e["text"]) for e in c["heldout"]],
                                    [e["group"] for e in c["heldout"]])}
    path = out_dir / f"quality-{version}.bin"
    path.with_suffix(".json").write_text(json.dumps(metrics, indent=2))
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")   # model_path takes an existing file as done
    model.save_model(str(tmp))
    os.replace(tmp, path)
    log.info("quality model %s: test accuracy %.3f, hq %s; held-out sources: accuracy %.3f, hq %s", version,
             metrics["accuracy"], metrics["hq"], metrics["heldout"]["accuracy"], metrics["heldout"]["hq"])
    return path


def model_path(configured: str | None = None, train_if_missing: bool = True) -> Path:
    """The configured model file, or this code version's model (trained on first use)."""
    if configured:
        p = Path(configured)
        if not p.exists():
            raise FileNotFoundError(f"quality model not found: {p}")
        return p
    p = models_dir() / f"quality-{model_version()}.bin"
    if not p.exists():
        if not train_if_missing:
            raise FileNotFoundError(f"{p} missing: run `python -m quality_models.quality train`")
        log.info("training the quality model (first use): %s", p)
        train(p.parent)
    return p


def score(model_file: str, texts: list[str]) -> list[float]:
    """P(hq) for each text, with the model loaded once per process."""
    model = load_fasttext(model_file)
    labels, probs = model.predict([prep(t) for t in texts], k=2)
    out = []
    for labs, ps in zip(labels, probs):
        d = dict(zip(labs, ps))
        out.append(float(min(1.0, d.get("__label__hq", 0.0))))
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] != ["train"]:
        print("usage: python -m quality_models.quality train [OUT_DIR]", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.INFO)
    path = train(Path(args[1]) if len(args) > 1 else None)
    print(path)
    print(path.with_suffix(".json").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
