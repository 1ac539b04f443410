"""A Spark standalone cluster on loopback (a master and N workers, from the PySpark
distribution): what the cluster tests submit to and the executor speed-up benchmark runs on."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


def wait_for(path: Path, text: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if path.exists() and text in path.read_text(errors="replace"):
            return
        if proc.poll() is not None:
            break
        time.sleep(0.5)
    tail = path.read_text(errors="replace")[-3000:] if path.exists() else ""
    raise RuntimeError(f"{text!r} not in {path} (exit {proc.poll()}):\n{tail}")


@contextmanager
def standalone(work: Path, workers: int = 1, cores: int = 2, memory: str = "3g"):
    """Yields (spark://127.0.0.1:<port>, env for spark-submit) while a master and `workers`
    workers of `cores` cores and `memory` each run; logs under `work`; stopped on exit."""
    work.mkdir(parents=True, exist_ok=True)
    home = spark_home()
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable}
    port = free_port()
    url = f"spark://127.0.0.1:{port}"
    cls = str(home / "bin" / "spark-class")
    procs = []
    master_log = work / "master.log"
    with ExitStack() as logs:
        try:
            master = [cls, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
                      "--webui-port", str(free_port())]
            procs.append(subprocess.Popen(master, env=env, stdout=logs.enter_context(open(master_log, "w")),
                                          stderr=subprocess.STDOUT))
            wait_for(master_log, "I have been elected leader", procs[0])
            for i in range(workers):
                log = work / f"worker-{i}.log"
                worker = [cls, "org.apache.spark.deploy.worker.Worker", url, "--cores", str(cores), "--memory", memory,
                          "--webui-port", str(free_port()), "--work-dir", str(work / f"worker-{i}")]
                procs.append(subprocess.Popen(worker, env=env, stdout=logs.enter_context(open(log, "w")),
                                              stderr=subprocess.STDOUT))
                wait_for(log, "Successfully registered with master", procs[-1])
            yield url, env
        finally:
            for p in reversed(procs):
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
