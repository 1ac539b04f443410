"""OpenLineage run events of stage runs, for the user's catalog (Marquez, DataHub, Airflow).

Off by default; `openlineage.transport` = file (JSON lines appended to `openlineage.path`),
http (`openlineage.url`, e.g. Marquez) or console. Each stage run sends START when its
ops.runs row is written as running, and COMPLETE or FAIL at the end, with the tables it read
and wrote as datasets (namespace: the lake root; name: the table, with its Delta version)
and the run's counts, config hash and code version as a `lakehouse` run facet. Sent with the
openlineage-python client from the driver: one event per stage run, not one per Spark job
as Spark's own OpenLineage agent would send (see docs/architecture.md). A catalog that is
down never fails a run: the event is logged and dropped.
"""
from __future__ import annotations

import logging
import os
import uuid
from datetime import UTC, datetime

import attr

log = logging.getLogger("lakehouse")
PRODUCER = "https://github.com/lakehouse-etl/lakehouse-etl"


def _client(ol: dict):
    from openlineage.client import OpenLineageClient

    if ol["transport"] == "file":
        from openlineage.client.transport.file import FileConfig, FileTransport

        os.makedirs(os.path.dirname(os.path.abspath(ol["path"])), exist_ok=True)
        return OpenLineageClient(transport=FileTransport(FileConfig(log_file_path=ol["path"], append=True)))
    if ol["transport"] == "http":
        from openlineage.client.transport.http import ApiKeyTokenProvider, HttpConfig, HttpTransport

        kw = {}
        if ol["api_key_env"] and os.environ.get(ol["api_key_env"]):
            kw["auth"] = ApiKeyTokenProvider({"apiKey": os.environ[ol["api_key_env"]]})
        return OpenLineageClient(transport=HttpTransport(HttpConfig(url=ol["url"], endpoint=ol["endpoint"], **kw)))
    from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport

    return OpenLineageClient(transport=ConsoleTransport(ConsoleConfig()))


def _facet_class():
    from openlineage.client.generated.base import RunFacet

    @attr.define
    class LakehouseRunFacet(RunFacet):
        """The stage run as ops.runs records it."""
        runId: str
        stage: str
        configHash: str
        codeVersion: str
        rowsIn: int | None = None
        rowsKept: int | None = None
        rowsRejected: int | None = None
        rowsWritten: int | None = None
        metrics: dict = attr.field(factory=dict)

        @staticmethod
        def _get_schema() -> str:
            return f"{PRODUCER}/blob/main/docs/architecture.md#openlineage"
    return LakehouseRunFacet


class Emitter:
    """Sends a stage run's events; `emit` never raises."""

    def __init__(self, ol: dict, lake_root: str):
        self.ol, self.namespace = ol, lake_root
        self.client = _client(ol)
        self.facet = _facet_class()

    def emit(self, state: str, run, error: str | None = None, trace: str | None = None) -> None:
        from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState
        from openlineage.client.facet_v2 import dataset_version_dataset, error_message_run, job_type_job

        try:
            facets = {"lakehouse": self.facet(
                runId=run.run_id, stage=run.stage, configHash=run.config_hash, codeVersion=run.code_version,
                rowsIn=run.rows_in, rowsKept=run.rows_kept, rowsRejected=run.rows_rejected,
                rowsWritten=run.rows_written, metrics=dict(run.metrics))}
            if error:
                facets["errorMessage"] = error_message_run.ErrorMessageRunFacet(
                    message=error, programmingLanguage="python", stackTrace=trace)

            def ds(cls, name, version):
                f = {"version": dataset_version_dataset.DatasetVersionDatasetFacet(datasetVersion=str(version))}
                return cls(namespace=self.namespace, name=name, facets=f if version is not None else {})
            outputs = run.output_versions() if state != "START" else {}
            event = RunEvent(
                eventType=getattr(RunState, state), eventTime=datetime.now(UTC).isoformat(),
                run=Run(runId=str(uuid.uuid5(uuid.NAMESPACE_URL, run.run_id)), facets=facets),
                job=Job(namespace=self.ol["namespace"], name=f"lakehouse.{run.stage}",
                        facets={"jobType": job_type_job.JobTypeJobFacet(processingType="BATCH", integration="SPARK",
                                                                         jobType="STAGE")}),
                producer=PRODUCER,
                inputs=[ds(InputDataset, t, v) for t, v in run.input_versions.items()],
                outputs=[ds(OutputDataset, t, outputs.get(t)) for t in run.output_tables])
            self.client.emit(event)
        except Exception as e:  # a catalog that is down must not fail the stage
            log.warning("openlineage: %s event of %s not sent: %s: %s", state, run.run_id, type(e).__name__, e)


def emitter(cfg: dict, lake_root: str) -> Emitter | None:
    ol = cfg["openlineage"]
    return None if ol["transport"] == "none" else Emitter(ol, lake_root)
