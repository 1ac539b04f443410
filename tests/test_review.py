"""`lakehouse review`: seeded samples of clean, dedup and pii decisions as HTML, no PII shown."""
from __future__ import annotations

import re

from pipelines.review import review

EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+\.[A-Za-z.]{2,}")
LONG_NUMBER = re.compile(r"(?<![0-9a-f])\d(?:[ -]?\d){8,}(?![0-9a-f])")


def _visible(page: str, ids: set[str]) -> str:
    """The page without its span details (salted hashes), WARC record ids and document ids (hex)."""
    page = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
    page = re.sub(r"urn:uuid:[0-9a-f-]+", "", page)
    for i in ids:
        page = page.replace(i, "")
    return page


def test_review_pages_show_decisions_and_no_raw_pii(redacted):
    lake, cfg, _ = redacted
    ids = {r.doc_id for r in lake.read("bronze.documents").select("doc_id").collect()}
    raw = " ".join(r.text for r in lake.read("silver.documents").select("text").collect())
    assert EMAIL.search(raw) and LONG_NUMBER.search(raw)          # the sample has PII to hide
    pages = {}
    for stage, reason, n in (("clean", None, 20), ("clean", "kept", 20), ("dedup", None, 20), ("pii", None, 20),
                             ("pii", "rejected", 10)):       # the sample has 14 pii rejects
        page = review(lake, cfg, stage, reason, n=n, seed=1)
        pages[(stage, reason)] = page
        visible = _visible(page, ids)
        assert page.count("class='item ") == n, (stage, reason)
        assert not EMAIL.search(visible), (stage, reason, EMAIL.search(visible))
        assert not LONG_NUMBER.search(visible), (stage, reason, LONG_NUMBER.search(visible))
        assert "lakehouse lineage " in page
    assert "<|pii_" in pages[("pii", None)].replace("&lt;", "<").replace("&gt;", ">")
    assert "(min " in pages[("clean", None)]                  # a failing rule's signal and threshold
    assert "the kept document" in pages[("dedup", None)]
    assert review(lake, cfg, "clean", None, n=20, seed=1) == pages[("clean", None)]   # the seed fixes the sample
    assert review(lake, cfg, "clean", None, n=20, seed=2) != pages[("clean", None)]
