"""spark-submit entry point: `spark-submit [...] infra/spark_job.py <stage> [job arguments]`
runs the main() of a command of jobs/stages.py (infra/submit.sh and the Airflow DAG use it).

Submitting `jobs/<stage>.py` itself does not work: Python puts the script's folder first on
sys.path, and there `jobs/tokenize.py` shadows the standard library's `tokenize` module
(imported by logging through linecache) before any line of the job runs.
"""
import sys

if __name__ == "__main__":
    if len(sys.argv) < 2:
        print("usage: spark-submit ... infra/spark_job.py <stage> [job arguments]", file=sys.stderr)
        sys.exit(2)
    from jobs import stages
    from jobs.common.entry import run_main

    try:
        cmd = stages.command(sys.argv[1])
    except stages.StageError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    sys.exit(run_main(cmd.main, sys.argv[2:]))
