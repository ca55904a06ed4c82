"""Time of an unchanged rerun of freshpoc_pipeline against the first run, on the running stack.

    .venv/bin/python benchmarks/pipeline_skip.py [REPO]

Run it from the checkout with the project's interpreter (``.venv/bin/python``) while the whole
stack is up (``freshpoc stack up``). It is not part of ``make bench``: it processes a repository
on the shared stack, which then lists it like any other.

REPO defaults to a fresh clone of this checkout (a real Python project with history), under a
new name so the first run really processes it. Both runs are triggered over REST; durations are
the DAG runs' own start/end times as Airflow records them. Goal: the rerun takes <= 5 % of the
first run.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def run(af, conf: dict) -> tuple[float, str]:
    run_id = af.trigger("freshpoc_pipeline", conf)
    state = af.wait("freshpoc_pipeline", run_id, timeout=3600, poll=1)
    r = af.api("GET", f"/dags/freshpoc_pipeline/dagRuns/{run_id}")
    start, end = (datetime.fromisoformat(r[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    return (end - start).total_seconds(), state


def main() -> int:
    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    with tempfile.TemporaryDirectory(prefix="freshpoc-bench-") as tmp:
        if len(sys.argv) > 1:
            repo = sys.argv[1]
        else:
            repo = str(Path(tmp) / f"freshpoc_bench_{uuid.uuid4().hex[:8]}")
            subprocess.run(["git", "clone", "-q", "--no-local", str(ROOT), repo], check=True)
        with AirflowRest(cfg.airflow_url) as af:
            first, s1 = run(af, {"repo": repo})
            second, s2 = run(af, {"repo": repo})
    print(f"repository: {repo}")
    print(f"first run (processes the commit) : {first:7.1f}s  {s1}")
    print(f"second run (unchanged, skipped)  : {second:7.1f}s  {s2}")
    print(f"ratio second / first             : {second / first:7.1%}  (goal <= 5%)")
    return 0 if s1 == s2 == "success" else 1


if __name__ == "__main__":
    sys.exit(main())
