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


def test_report_sets_the_lake_beside_the_100t_plan(multimodal):
    from pipelines.report import plan_vs_lake

    lake, _, _, _ = multimodal
    data = collect(lake)
    mods, langs = plan_vs_lake(data["holdings"])
    gold = {r["modality"]: r["t"] for r in lake.spark.sql(
        "SELECT modality, sum(n_tokens) AS t FROM gold.tokens GROUP BY modality").collect()}
    got = dict(zip(mods["modality"], mods["lake_tokens"]))
    assert got == gold and set(got) == {"text", "audio", "video", "image"}
    assert abs(mods["plan_share"].sum() - 1) < 1e-9 and mods.set_index("modality")["plan_tokens"]["text"] == 94e12
    assert mods.set_index("modality")["hours"]["audio"] > 0 and mods.set_index("modality")["hours"]["image"] == 0
    # languages: of the text, audio and video tokens that have one; zh/en/other against 40/50/10
    assert list(langs["lang"]) == ["zh", "en", "other"] and abs(langs["lake_share"].sum() - 1) < 1e-9
    assert list(langs["plan_share"]) == [0.40, 0.50, 0.10]
    page = render(data, lake.root)
    assert "The lake against the 100T pool plan" in page and page.count("<table>") == 6
    # the capacity plan from the lake's own rates: every modality measured here, as `lakehouse plan` computes it
    from pipelines import plan as capacity
    cap = capacity.plan(data["rates"], capacity.Pool())
    assert cap["complete"] and f"{cap['core_hours']:,.0f} core-hours" in page and "no measured rates" not in page
