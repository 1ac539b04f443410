"""lakehouse plan: the capacity model on a recorded rates file, and the rates a lake's runs record."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from jobs.plan import main
from pipelines import plan as P

RATES = Path(__file__).with_name("plan_rates.json")   # recorded from the sample lake (`lakehouse plan --save-rates`)


def _expected(stages: dict, chain: tuple[str, ...], tokens: float) -> list[tuple[str, float, float]]:
    """(stage, rows in, core-hours) written out from the model's definition, independently of the code."""
    last = stages[chain[-1]]
    rows = tokens * last["rows_kept"] / last["tokens"]
    out = []
    for s in reversed(chain):
        r = stages[s]
        rows_in = rows * r["rows_in"] / r["rows_kept"]
        out.insert(0, (s, rows_in, rows_in * r["core_seconds"] / r["rows_in"] / 3600))
        rows = rows_in
    return out


def test_plan_on_a_recorded_rates_file_prints_what_its_formulas_give(capsys):
    stages = json.loads(RATES.read_text())["stages"]
    assert main(["--rates", str(RATES), "--json", "--cores", "512", "--nightly-share", "0.02"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["complete"] and set(got["modalities"]) == {"text", "audio", "video", "image"}
    total = 0.0
    for m, tokens in {"text": 94e12, "audio": 2.5e12, "video": 2.5e12, "image": 1e12}.items():
        steps = got["modalities"][m]["steps"]
        want = _expected(stages, P.CHAINS[m], tokens)
        assert [s["stage"] for s in steps] == [w[0] for w in want]
        for s, (_, rows_in, core_hours) in zip(steps, want):
            assert s["rows_in"] == pytest.approx(rows_in) and s["core_hours"] == pytest.approx(core_hours)
        total += sum(w[2] for w in want)
    assert got["core_hours"] == pytest.approx(total) and got["wall_hours"] == pytest.approx(total / 512)
    assert got["nightly"]["core_hours"] == pytest.approx(0.02 * total)
    # bytes: what each stage's runs wrote per input row, times the rows the pool sends it
    clean = next(s for s in got["modalities"]["text"]["steps"] if s["stage"] == "clean")
    c = stages["clean"]
    assert clean["written"]["silver.documents"] == pytest.approx(
        clean["rows_in"] * c["written"]["silver.documents"] / c["rows_in"])
    assert got["layers"]["silver"] == pytest.approx(sum(b for t, b in got["tables"].items() if t.startswith("silver.")))
    assert got["text_bytes"] == pytest.approx(94e12 * 3.8)
    # the printed plan shows the same totals
    assert main(["--rates", str(RATES), "--cores", "512"]) == 0
    text = capsys.readouterr().out
    assert f"total: {total:,.0f} core-hours, {total / 512:,.1f} h on 512 cores" in text
    assert "missing" not in text


def test_stages_without_rates_are_missing_not_guessed(tmp_path, capsys):
    doc = json.loads(RATES.read_text())
    del doc["stages"]["audio"]
    (tmp_path / "r.json").write_text(json.dumps(doc))
    assert main(["--rates", str(tmp_path / "r.json"), "--json", "--tokens", "text=1T", "--tokens", "image=0"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["modalities"]["audio"] == {"tokens": 2.5e12, "missing": ["audio"]} and not got["complete"]
    assert "image" not in got["modalities"]
    want = sum(w[2] for m in ("text", "video") for w in _expected(doc["stages"], P.CHAINS[m], got["pool"]["tokens"][m]))
    assert got["pool"]["tokens"]["text"] == 1e12 and got["core_hours"] == pytest.approx(want)
    assert main(["--rates", str(tmp_path / "r.json")]) == 0
    out = capsys.readouterr().out
    assert "no measured rates: audio" in out and "incomplete" in out


@pytest.mark.parametrize("args, message", [
    (["--tokens", "speech=1T"], "expected MODALITY=COUNT"),
    (["--tokens", "text=lots"], "is not a count"),
    (["--cores", "0"], "cores must be > 0"),
    (["--save-rates", "x.json"], "does not go with --rates"),
])
def test_bad_pool_is_a_clear_error(args, message, capsys):
    assert main(["--rates", str(RATES), *args]) == 2
    assert message in capsys.readouterr().err


def test_executor_figures_that_cannot_be_read_never_fail_a_run():
    from types import SimpleNamespace

    from jobs.common.runs import executor_totals
    assert executor_totals(SimpleNamespace(_jsc=None)) == {}


def test_bad_rates_file_is_a_clear_error(tmp_path, capsys):
    (tmp_path / "bad.json").write_text('{"format": 1, "stages": {"clean": {"rows_in": 5}}}')
    assert main(["--rates", str(tmp_path / "bad.json")]) == 2
    assert "not a rates file" in capsys.readouterr().err
    assert main(["--rates", str(tmp_path / "absent.json")]) == 2
    assert "cannot read the rates file" in capsys.readouterr().err


def test_runs_record_cores_shuffle_and_their_commits(multimodal, tmp_path, capsys):
    """Every run records its cores, task time and shuffle; its Delta commits carry its run id, and
    the lake's rates (what --save-rates writes) are the sums of its runs."""
    lake, _, _, _ = multimodal
    spark = lake.spark
    runs = {r["run_id"]: r for r in spark.sql("SELECT run_id, stage, status, rows_in, metrics FROM ops.runs").collect()}
    done = {i: r for i, r in runs.items() if r["status"] == "succeeded" and r["metrics"].get("cores")}
    clean = {i: r for i, r in done.items() if r["stage"] == "clean" and "reapply.remeasured" not in r["metrics"]}
    assert clean and all(r["metrics"]["cores"] >= 1 and r["metrics"]["task_seconds"] > 0 for r in clean.values())
    assert any(r["metrics"]["shuffle_write_bytes"] > 0 for r in done.values() if r["stage"] == "dedup")
    hist = spark.sql(f"DESCRIBE HISTORY delta.`{lake.path('silver.documents')}`").collect()
    tagged = [h for h in hist if h["userMetadata"]]
    assert tagged and all(runs[h["userMetadata"]]["stage"] in ("clean", "dedup") for h in tagged)
    rates = P.rates_from_lake(lake)
    assert set(rates) >= {s for c in P.CHAINS.values() for s in c}
    by_clean = sum(P.commit_bytes(h["operationMetrics"]) for h in tagged if h["userMetadata"] in clean)
    assert rates["clean"].written["silver.documents"] == by_clean > 0
    assert rates["clean"].rows_in == sum(r["rows_in"] for r in clean.values())
    out = tmp_path / "rates.json"
    assert main(["--lake", lake.root, "--set", "spark.master=local[2]", "--save-rates", str(out)]) == 0
    assert "total:" in capsys.readouterr().out
    saved, _ = P.load_rates(out.read_text())
    assert saved == rates
