"""DataTrove reference for the clean benchmark: the equivalent filters in one process.

Runs inside its own venv (datatrove[processing]==0.10.1 pins trafilatura<1.12, which the
project does not use); bench/clean_bench.py creates it and calls this script. Offline
adaptations, each making DataTrove faster rather than slower: the LID model is the same
lid.176.ftz the project uses (DataTrove would download lid.176.bin), and the Gopher/C4/
FineWeb filters get a regex word tokenizer instead of NLTK punkt (which needs a data
download). `--extractor resiliparse` swaps DataTrove's Trafilatura for the extractor the
project uses, for an apples-to-apples figure.

    python bench/datatrove_clean.py WARC_DIR LID_MODEL QUALITY_MODEL [--extractor trafilatura|resiliparse]
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("warc_dir")
    ap.add_argument("lid_model")
    ap.add_argument("quality_model")
    ap.add_argument("--extractor", default="trafilatura", choices=["trafilatura", "resiliparse"])
    ap.add_argument("--limit", type=int, default=-1)
    args = ap.parse_args()

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.base import PipelineStep
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.extractors.base import BaseExtractor
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FastTextClassifierFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        LanguageFilter,
    )
    from datatrove.pipeline.readers import WarcReader
    from datatrove.utils import lid
    from datatrove.utils.word_tokenizers import WordTokenizer

    class RegexTokenizer(WordTokenizer):
        def word_tokenize(self, text):
            return re.findall(r"\w+|[^\w\s]", text)

        def sent_tokenize(self, text):
            return [s for s in re.split(r"(?<=[.!?。！？])\s+", text) if s]

        def span_tokenize(self, text):
            return [m.span() for m in re.finditer(r"[^.!?。！？]+[.!?。！？]*", text)]

    from fasttext.FastText import _FastText
    model = _FastText(args.lid_model)
    lid.FastTextLID.model = property(lambda self: model)

    class Resiliparse(BaseExtractor):
        name = "resiliparse"

        def __init__(self, timeout: float = 1):
            super().__init__(timeout)

        def extract(self, text: str) -> str:
            from resiliparse.extract.html2text import extract_plain_text
            return extract_plain_text(text, preserve_formatting=True, main_content=True, comments=False)

    class Count(PipelineStep):
        name = "count"
        seen = 0

        def run(self, data, rank=0, world_size=1):
            for doc in data:
                Count.seen += 1
                yield doc

    tok = RegexTokenizer()
    extractor = Trafilatura(favour_precision=True) if args.extractor == "trafilatura" else Resiliparse()
    counter = Count()
    pipeline = [
        WarcReader(args.warc_dir, glob_pattern="*.warc.gz", limit=args.limit), counter, extractor,
        LanguageFilter(language_threshold=0.5),
        GopherRepetitionFilter(language=tok), GopherQualityFilter(language=tok),
        C4QualityFilter(filter_no_terminal_punct=False, language=tok), FineWebQualityFilter(language=tok),
        FastTextClassifierFilter(args.quality_model, keep_labels=("hq", 0.0)),
    ]
    with tempfile.TemporaryDirectory() as logs:
        t = time.monotonic()
        LocalPipelineExecutor(pipeline=pipeline, tasks=1, workers=1, logging_dir=logs).run()
        secs = time.monotonic() - t
    print(json.dumps({"extractor": args.extractor, "docs": Count.seen, "seconds": round(secs, 1),
                      "docs_per_s": round(Count.seen / secs, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
