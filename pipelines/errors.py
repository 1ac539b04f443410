"""Which exceptions are the data's fault and which are the environment's.

A per-record handler may turn a library's failure on strange input into a reject with its
own reason (`extractor_error`, `probe_error`, ...: the stage fails when those pass its
error budget), but never an environment failure: a missing module, exhausted memory or a
broken interpreter fails the task, Spark retries it, and the run fails instead of
rejecting every record.
"""
from __future__ import annotations

ENVIRONMENT = (ImportError, MemoryError, SystemError, KeyboardInterrupt, SystemExit)


def reraise_environment(e: BaseException) -> None:
    """Raise `e` again if it is an environment failure, not a data problem."""
    if isinstance(e, ENVIRONMENT):
        raise e
