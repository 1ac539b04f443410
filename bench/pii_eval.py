"""PII quality: per-type precision and recall of the PII stage on the labelled set.

    python bench/pii_eval.py [--set data/pii/labelled.jsonl] [--profile sample] [--set-key k=v ...]

Runs the stage's detection path (pipelines/pii/stage.detect_fn: the analyzer, the
configured thresholds and overlap resolution) over every labelled document, prints a
table and writes bench/results/pii-eval-<date>.json with the misses and false positives.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from corpora.pii_eval import TYPES, load, predict, score  # noqa: E402
from jobs.common.config import load_config  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# presidio's predefined entity types -> our placeholder names (types with no counterpart are dropped)
PRESIDIO_TYPES = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "credit_card",
                  "IBAN_CODE": "iban", "IP_ADDRESS": "ip_address"}


def presidio_predict(examples: list[dict]) -> list[list[dict]]:
    """presidio's out-of-the-box offline engine (bench/pii_bench.presidio_plain), every text as English."""
    from bench.pii_bench import presidio_plain

    engine = presidio_plain()
    return [[{"start": r.start, "end": r.end, "type": PRESIDIO_TYPES[r.entity_type], "entity": r.entity_type}
             for r in engine.analyze(e["text"], language="en", score_threshold=0.4) if r.entity_type in PRESIDIO_TYPES]
            for e in examples]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", dest="path", default=str(ROOT / "data/pii/labelled.jsonl"))
    ap.add_argument("--profile", default="sample")
    ap.add_argument("--override", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--engine", choices=("stage", "presidio"), default="stage",
                    help="stage: this project's PII stage; presidio: presidio's predefined recognizers, "
                         "no-op NLP engine, score >= 0.4 (a baseline)")
    args = ap.parse_args()
    examples = load(args.path)
    cfg = load_config(args.profile, args.override)
    t0 = time.monotonic()
    rep = score(examples, predict(examples, cfg) if args.engine == "stage" else presidio_predict(examples))
    rep["engine"] = args.engine
    rep["seconds"] = round(time.monotonic() - t0, 2)
    print(f"{'type':<16}{'gold':>6}{'recall':>9}{'precision':>11}")
    for t in TYPES:
        r = rep["types"][t]
        fmt = lambda v: f"{v:.3f}" if v is not None else "-"   # noqa: E731
        print(f"{t:<16}{r['gold']:>6}{fmt(r['recall']):>9}{fmt(r['precision']):>11}")
    print(f"{'all':<16}{rep['entities']:>6}{rep['recall']:>9.3f}{rep['precision']:>11.3f}   "
          f"chars covered by any redaction: {rep['char_coverage']:.3f}   ({rep['documents']} documents)")
    print("recall by language: " + ", ".join(f"{la} {v:.3f}" for la, v in rep["recall_by_lang"].items()))
    print("by type and language: " + ", ".join(f"{k} {v['recall']:.2f} ({v['gold']})"
                                               for k, v in rep["recall_by_type_lang"].items()))
    for t in TYPES:
        for m in rep["types"][t]["misses"]:
            print(f"  miss {t}: {m}")
        for m in rep["types"][t]["false_positives"]:
            print(f"  false positive {t}: {m}")
    tag = "" if args.engine == "stage" else "-presidio"
    out = ROOT / "bench/results" / f"pii-eval-{Path(args.path).stem}{tag}-{date.today()}.json"
    out.write_text(json.dumps(rep, indent=1, ensure_ascii=False))
    print(f"-> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
