"""The quality classifier's tiers on real good text and on junk, per source and per junk kind.

Good set and junk: quality_models/debian_docs.py (as bench/clean_eval.py), extracted and normalized
the clean stage's way, scored by the configured quality model (default: this code's model);
pages the model was trained on are left out, and sources and junk kinds it never saw are
marked "held out". A tier that tracks the source (one manual high, another low) or lets a junk
kind into the top tier shows the classifier is a domain classifier, not a quality one.

    python bench/quality_eval.py [--per-group 30] [--seed 1] [--model PATH]
"""
from __future__ import annotations

import argparse
import collections
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import save  # noqa: E402


def evaluate(per_group: int, seed: int, model: str | None) -> dict:
    from jobs.common.config import load_config
    from pipelines.clean.extract import extract, normalize
    from quality_models import training_data
    from quality_models.debian_docs import fetch, good_documents, junk_documents
    from quality_models.quality import model_path, score

    tiers = load_config("sample")["clean"]["quality"]["tiers"]
    trained_on = set(training_data.corpus()["train_ids"]) if model is None else set()
    drawn = good_documents(fetch(), per_group=per_group, seed=seed)
    good = [d for d in drawn if d["id"] not in trained_on]
    for d in good:
        d["text"] = normalize(extract(d.pop("content"), d["format"])[1])
    good = [d for d in good if d["text"].strip()]
    junk = junk_documents([d["text"] for d in good], n=max(600, len(good) // 2), seed=seed)
    path = str(model_path(model))
    groups: dict[tuple[str, str], list[float]] = collections.defaultdict(list)
    for name, docs, key in (("good", good, "source"), ("junk", junk, "kind")):
        for d, s in zip(docs, score(path, [d["text"] for d in docs])):
            groups[(name, d[key])].append(s)
            groups[(name, "all")].append(s)
    held = set(training_data.HELDOUT_SOURCES) | set(training_data.HELDOUT_JUNK)
    trained = set(training_data.TRAIN_SOURCES) | set(training_data.TRAIN_JUNK) | {"all"}
    rows = [{"set": name, "group": g, "seen": "held out" if g in held else ("" if g in trained else "not trained"),
             "n": len(ss),
             "high": round(sum(s >= tiers["high"] for s in ss) / len(ss), 3),
             "low": round(sum(s < tiers["mid"] for s in ss) / len(ss), 3)} for (name, g), ss in sorted(groups.items())]
    metrics = Path(path).with_suffix(".json")
    return {"model": Path(path).name, "tiers": tiers, "per_group": per_group, "seed": seed, "rows": rows,
            "trained_pages_left_out": len(drawn) - len(good),
            "model_metrics": json.loads(metrics.read_text()) if metrics.exists() else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-group", type=int, default=30)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--model", default=None)
    a = ap.parse_args()
    result = evaluate(a.per_group, a.seed, a.model)
    print(f"model {result['model']}, tiers {result['tiers']}")
    print("| set | source / kind | in training | n | tier high | tier low |\n|---|---|---|---|---|---|")
    for r in result["rows"]:
        print(f"| {r['set']} | {r['group']} | {r['seen'] or 'yes'} | {r['n']} | {r['high']:.3f} | {r['low']:.3f} |")
    m = result["model_metrics"]
    if m and "heldout" in m:
        h = m["heldout"]
        print(f"model's held-out sources: accuracy {h['accuracy']}, hq {h['hq']}, lq {h['lq']}")
    print(save("quality_eval", result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
