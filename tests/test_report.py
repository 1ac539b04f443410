"""lakehouse report: the dashboard of the sample lake has every plot, each a real image."""
from __future__ import annotations

import base64
import io
import re

from PIL import Image

from pipelines.report import collect, render


def test_report_has_every_plot(exported, tmp_path):
    from jobs.report import main

    lake, cfg, _ = exported
    data = collect(lake)
    page = render(data, lake.root)
    ids = re.findall(r'<section id="([a-z-]+)">', page)
    assert ids == ["rows-per-stage", "rows-over-runs", "drop-reasons", "dup-rate", "langs-tiers", "tokens",
                   "tokens-over-runs", "pii", "licenses", "mixture"]
    for b in re.findall(r'src="data:image/png;base64,([^"]+)"', page):
        img = Image.open(io.BytesIO(base64.b64decode(b)))
        assert img.width > 300 and img.height > 150 and len(img.convert("L").getcolors(1 << 16) or []) > 8   # not blank
    # the numbers behind the plots are the tables' own
    assert data["pii"]["found"].sum() == lake.read("silver.pii_audit").groupBy().sum("count").first()[0]
    assert set(data["rejects"]["stage"]) >= {"ingest", "clean", "dedup", "pii"}
    assert set(data["mixture"]["level"]) == {"modality", "dataset"}
    out = tmp_path / "report.html"
    assert main(["--lake", lake.root, "--out", str(out), "--set", "spark.master=local[2]"]) == 0
    assert out.read_text().count("<img ") == len(ids)
