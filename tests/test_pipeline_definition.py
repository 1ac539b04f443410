"""The one pipeline definition (jobs/stages.py), the validated config, package boundaries and
the OpenLineage events of stage runs."""
from __future__ import annotations

import ast
import json
import runpy
import subprocess
import sys
import types
from pathlib import Path

import pytest
from pydantic import Field

from jobs import stages
from jobs.common.config import ConfigError, config_hash, load_config
from schemas.config import Section

ROOT = Path(__file__).resolve().parents[1]


class ToyConfig(Section):
    threshold: float = Field(0.5, description="a toy stage's setting")


TOY = stages.Stage("toy", "a stage registered by a test", reads=("silver.documents",), writes=("ops.rejects",),
                   config={"toy": ToyConfig}, run="tests.test_pipeline_definition:run_toy",
                   module="tests.test_pipeline_definition")


def run_toy(spark, lake, cfg):
    return {"rows_in": 0, "threshold": cfg["toy"]["threshold"]}


@pytest.fixture
def toy_stage(monkeypatch):
    """The pipeline with one extra stage after pii: the single entry a new stage needs."""
    pipeline = list(stages.PIPELINE)
    pipeline.insert(stages.names().index("pii") + 1, TOY)
    monkeypatch.setattr(stages, "PIPELINE", pipeline)
    return TOY


def fake_airflow(monkeypatch) -> list[dict]:
    """Just enough of airflow for the DAG file to build its tasks; returns the tasks made."""
    tasks: list[dict] = []

    class Task:
        def __init__(self, **kw):
            self.kw, self.upstream = kw, []
            tasks.append(self.kw | {"upstream": self.upstream})

        def __rshift__(self, other):
            other.upstream.append(self.kw["task_id"])
            return other

    class DAG:
        def __init__(self, **kw):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *a):
            return False

    variable = types.SimpleNamespace(get=lambda name, default_var=None: str(ROOT) if name == "lakehouse_home"
                                     else default_var)
    mods = {"airflow": types.SimpleNamespace(DAG=DAG), "airflow.models": types.SimpleNamespace(Variable=variable),
            "airflow.providers": types.ModuleType("p"), "airflow.providers.apache": types.ModuleType("a"),
            "airflow.providers.apache.spark": types.ModuleType("s"), "airflow.providers.apache.spark.operators":
            types.ModuleType("o"), "airflow.providers.apache.spark.operators.spark_submit":
            types.SimpleNamespace(SparkSubmitOperator=Task)}
    for name, mod in mods.items():
        monkeypatch.setitem(sys.modules, name, mod)
    return tasks


def test_a_registered_stage_is_everywhere(toy_stage, monkeypatch, capsys, tmp_path):
    from jobs.cli import main as cli
    from jobs.sample import plan

    cfg = load_config("sample", ["toy.threshold=0.8"])
    assert cfg["toy"]["threshold"] == 0.8                                   # its config section is validated
    with pytest.raises(ConfigError, match="unknown config key toy.treshold .*did you mean toy.threshold"):
        load_config("sample", ["toy.treshold=1"])
    order = [s.name for s in stages.order(cfg)]
    assert order == ["ingest", "clean", "dedup", "pii", "toy", "tokenize", "audio", "image", "video",
                     "export"]
    assert [s.name for s in stages.order(load_config("sample", ["nightly.export=false"]))][-1] == "video"
    assert cli(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "  toy       a stage registered by a test" in help_text
    assert help_text.index("  pii ") < help_text.index("  toy ") < help_text.index("  tokenize ")
    assert plan(cfg, str(tmp_path))["stages"] == order
    assert [i["dataset"] for i in plan(cfg, str(tmp_path))["inputs"]] == ["sample-web", "sample-wet",
                                                                          "sample-dumps", "sample-media"]
    tasks = fake_airflow(monkeypatch)
    runpy.run_path(str(ROOT / "infra/schedule/airflow_dag.py"))
    dag = ["crawl", *order]          # every stage is a task; crawl (no seeds here) is off in this config's nightly
    assert [t["task_id"] for t in tasks] == dag
    assert [t["upstream"] for t in tasks] == [[]] + [[a] for a in dag[:-1]]
    toy = tasks[dag.index("toy")]
    assert toy["application_args"] == ["nightly", "--profile", "cluster", "--only", "toy"]
    assert toy["application"] == f"{ROOT}/infra/spark_job.py"
    assert "spark.executor.resource.gpu.amount" not in toy["conf"]
    assert stages.command("toy").run_fn()(None, None, cfg) == {"rows_in": 0, "threshold": 0.8}
    # a stage's run reads its declared tables: the nightly's skip test uses them
    assert stages.stage("toy").reads == ("silver.documents",)


def test_the_dag_follows_the_pipeline(monkeypatch):
    tasks = fake_airflow(monkeypatch)
    runpy.run_path(str(ROOT / "infra/schedule/airflow_dag.py"))
    assert [t["task_id"] for t in tasks] == stages.names() == ["crawl", "ingest", "clean", "dedup", "pii", "tokenize",
                                                                    "audio", "image", "video", "export"]
    audio = tasks[stages.names().index("audio")]
    assert audio["conf"]["spark.executor.resource.gpu.amount"] == "1"          # its executors want a GPU
    assert tasks[stages.names().index("image")]["conf"]["spark.executor.resource.gpu.amount"] == "1"
    assert tasks[stages.names().index("video")]["conf"]["spark.executor.resource.gpu.amount"] == "1"
    assert all(t["py_files"].endswith("build/lakehouse-py.zip") and "spark.sql.extensions" in t["conf"] for t in tasks)


def test_config_errors_fail_before_spark_with_the_key_and_its_nearest(tmp_path):
    run = lambda *a: subprocess.run([sys.executable, "-m", "jobs.cli", *a], cwd=ROOT, capture_output=True,
                                    text=True, timeout=120)
    p = run("clean", "--set", "clean.rulez.x=1")
    assert p.returncode == 2 and "Spark UI" not in p.stderr
    assert "unknown config key clean.rulez (from --set clean.rulez.x=1); did you mean clean.rules?" in p.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("dedup:\n  num_perms: 128\n")
    p = run("dedup", "--profile", str(bad))
    assert p.returncode == 2 and f"unknown config key dedup.num_perms (from profile {bad})" in p.stderr
    assert "did you mean dedup.num_perm?" in p.stderr
    p = run("pii", "--set", "pii.min_score=high")
    assert p.returncode == 2 and "config key pii.min_score" in p.stderr and "(expected float), got 'high'" in p.stderr
    p = run("config", "show", "--profile", "nightly", "--set", "dedup.seed=7", "--lake", "/tmp/x")
    assert p.returncode == 0, p.stderr
    lines = dict(ln.split(" = ", 1) for ln in p.stdout.splitlines())
    assert lines["dedup.seed"] == "7    # --set dedup.seed=7"
    assert lines["dedup.num_perm"] == "112    # default"
    assert lines["lake.root"] == '"/tmp/x"    # --set lake.root=/tmp/x'
    assert lines["spark.conf.spark.sql.shuffle.partitions"].endswith(f"# profile {ROOT}/infra/conf/nightly.yaml")
    assert lines["profile"] == f'"nightly"    # profile {ROOT}/infra/conf/nightly.yaml'


def test_config_defaults_live_in_one_place_and_hash_stably():
    a, b = load_config("sample"), load_config("sample")
    assert a == b and config_hash(a) == config_hash(json.loads(json.dumps(a)))
    assert config_hash(a) != config_hash(load_config("sample", ["dedup.seed=2"]))
    assert not (ROOT / "infra/conf/base.yaml").exists()
    # no default of a config key is restated in code: direct indexing only in the stages
    offenders = []
    for path in [*ROOT.glob("jobs/**/*.py"), *ROOT.glob("pipelines/**/*.py"), *ROOT.glob("tokenize_jobs/*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get"
                    and isinstance(node.func.value, (ast.Name, ast.Subscript))
                    and getattr(node.func.value, "id", getattr(getattr(node.func.value, "value", None), "id", ""))
                    in ("cfg", "c", "p", "d", "t", "icfg", "ccfg", "scfg")):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []


def test_package_boundaries():
    """pipelines/ and the other runtime packages never import jobs/ or the corpora generators."""
    bad = []
    for pkg in ("pipelines", "tokenize_jobs", "schemas", "quality_models", "train"):
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
                bad += [f"{path.relative_to(ROOT)}: {n}" for n in names if n.split(".")[0] in ("jobs", "corpora")]
    assert bad == []


def test_text_stages_need_no_torch_or_megatron():
    """A Spark executor image for the text stages need not carry the [train] extra."""
    code = ("import sys\n"
            "class Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in ('torch', 'megatron', 'matplotlib'):\n"
            "            raise ImportError('blocked: ' + name)\n"
            "sys.meta_path.insert(0, Block())\n"
            "import jobs.ingest, jobs.clean, jobs.dedup, jobs.pii, jobs.tokenize, jobs.nightly, jobs.cli\n"
            "import pipelines.clean.refine, pipelines.dedup.stage, pipelines.pii.stage, tokenize_jobs.text\n"
            "from jobs import stages\n"
            "try:\n"
            "    stages.stage('export').require()\n"
            "except stages.StageError as e:\n"
            "    print(e)\n")
    p = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "stage export needs the [train] extra: pip install 'lakehouse-etl[train]'" in p.stdout


def test_failed_run_sends_a_fail_event_with_its_traceback(lake_at, tmp_path):
    from jobs.common.config import updated
    from jobs.export import ExportError, run_export

    lake, cfg = lake_at(tmp_path / "lake")
    events = tmp_path / "ol" / "events.jsonl"
    cfg = updated(cfg, {"openlineage": {"transport": "file", "path": str(events)}})
    with pytest.raises(ExportError, match="gold.tokens does not exist"):
        run_export(lake.spark, lake, cfg)
    got = [json.loads(line) for line in events.read_text().splitlines()]
    assert [e["eventType"] for e in got] == ["START", "FAIL"]
    assert got[1]["job"] == {"namespace": "lakehouse", "name": "lakehouse.export", "facets": got[1]["job"]["facets"]}
    assert [o["name"] for o in got[1]["outputs"]] == ["gold.exports", "gold.export_docs"]
    err = got[1]["run"]["facets"]["errorMessage"]
    assert "gold.tokens does not exist" in err["message"] and "Traceback" in err["stackTrace"]
    row = lake.read("ops.runs").where("stage = 'export' AND status = 'failed'").first()
    assert "ExportError: gold.tokens does not exist" in row.error and "jobs/export.py" in row.error


def test_nightly_sends_start_and_complete_events_naming_its_tables(crawl):
    events = [json.loads(line) for line in Path(crawl["cfg"]["openlineage"]["path"]).read_text().splitlines()]
    by_job: dict[str, list[dict]] = {}
    for e in events:
        by_job.setdefault(e["job"]["name"], []).append(e)
    assert {"lakehouse.ingest", "lakehouse.clean", "lakehouse.dedup", "lakehouse.pii",
            "lakehouse.tokenize"} <= set(by_job)
    clean = by_job["lakehouse.clean"]
    assert [e["eventType"] for e in clean][:2] == ["START", "COMPLETE"]
    assert clean[0]["run"]["runId"] == clean[1]["run"]["runId"]
    done = clean[1]
    assert {i["name"] for i in done["inputs"]} >= {"bronze.documents"}
    assert {o["name"] for o in done["outputs"]} == {"silver.documents", "silver.text_signals", "ops.rejects"}
    assert all(i["namespace"] == crawl["lake"].root for i in done["inputs"])
    facet = done["run"]["facets"]["lakehouse"]
    assert facet["rowsIn"] == facet["rowsKept"] + facet["rowsRejected"] > 0 and facet["stage"] == "clean"
    assert facet["runId"].startswith("clean-") and len(facet["configHash"]) == 16
    versions = {o["name"]: o["facets"]["version"]["datasetVersion"] for o in done["outputs"] if o["facets"]}
    assert int(versions["silver.documents"]) >= 1      # a table that does not exist yet has no version
