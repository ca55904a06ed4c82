"""freshpoc_pipeline on a big repository: end-to-end time, report before embed, one-file rerun.

    .venv/bin/python benchmarks/embed_scale.py PATH [--timeout 1800]

Run it from the checkout with the project's interpreter while the whole stack is up
(``freshpoc stack up``), on a fetched checkout of sqlalchemy's size (issue 16: 31,022 chunks;
``git clone`` of github.com/sqlalchemy/sqlalchemy). Not part of ``make bench``: it processes the
repository on the shared stack, which then lists it like any other.

The checkout is cloned into a temporary repository of its own (a new repo id, so the first run
really processes it), ``freshpoc_pipeline`` is triggered over REST and every task's start and
end are read from Airflow. Then one function is added to one file, committed, and the pipeline
runs again: the embed task's XCom says how many chunks it embedded against the chunks that file
has. Goals (issue 16): the first run <= 5 min on 2 cores, report ends before embed, the rerun
embeds only the changed file's chunks.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAG = "freshpoc_pipeline"
GOAL_SECONDS = 300


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def run(af: Any, conf: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Trigger, wait, and collect the run's and its tasks' times and the embed XCom."""
    run_id = af.trigger(DAG, conf)
    state = af.wait(DAG, run_id, timeout=timeout, poll=2)
    r = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")
    tis = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    tasks = {t["task_id"]: (_time(t.get("start_date")), _time(t.get("end_date")), t["state"],
                            t.get("map_index", -1)) for t in tis}
    embed: dict[str, Any] = {}
    if "process.embed" in tasks:
        index = tasks["process.embed"][3]
        entry = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances/process.embed/xcomEntries/"
                              f"return_value", params={"map_index": index, "deserialize": True})
        value = entry.get("value")
        embed = value if isinstance(value, dict) else {}
    start, end = _time(r["start_date"]), _time(r["end_date"])
    return {"run_id": run_id, "state": state, "seconds": (end - start).total_seconds(), "start": start,
            "tasks": tasks, "embed": embed}


def show(title: str, result: dict[str, Any]) -> None:
    print(f"== {title}: {result['state']} in {result['seconds']:.1f}s (run {result['run_id']})")
    for task_id, (start, end, state, _) in sorted(result["tasks"].items(),
                                                   key=lambda kv: kv[1][0] or result["start"]):
        if start and end:
            since = (start - result["start"]).total_seconds()
            until = (end - result["start"]).total_seconds()
            print(f"  {task_id:<22} {state:<8} +{since:6.1f}s -> +{until:6.1f}s  ({until - since:6.1f}s)")
        else:
            print(f"  {task_id:<22} {state}")
    if result["embed"]:
        print(f"  embed counts: {result['embed']}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("repo", type=Path, help="a fetched checkout (e.g. sqlalchemy)")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--file", default=None, help="file to change for the rerun (default: the "
                    "first tracked .py under lib/ or src/)")
    args = ap.parse_args()
    loads = [("before", os.getloadavg())]  # a shared machine's load is part of the result

    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    with tempfile.TemporaryDirectory(prefix="freshpoc-scale-") as tmp:
        repo = Path(tmp) / f"{args.repo.name}_scale_{uuid.uuid4().hex[:8]}"
        subprocess.run(["git", "clone", "-q", "--no-local", str(args.repo), str(repo)], check=True)
        git = ["git", "-C", str(repo), "-c", "user.name=bench", "-c", "user.email=bench@example.invalid"]
        changed = args.file or next(
            p for p in subprocess.run([*git, "ls-files", "lib/*.py", "src/*.py"], capture_output=True,
                                      text=True, check=True).stdout.split() if p.endswith(".py"))
        with AirflowRest(cfg.airflow_url) as af:
            first = run(af, {"repo": str(repo)}, args.timeout)
            loads.append(("after the first run", os.getloadavg()))
            target = repo / changed
            target.write_text(target.read_text() + "\n\ndef _scale_benchmark_added(value):\n"
                              '    """Added by benchmarks/embed_scale.py: one new function."""\n'
                              "    return value\n")
            subprocess.run([*git, "commit", "-q", "-am", "benchmark: one function added"], check=True)
            second = run(af, {"repo": str(repo)}, args.timeout)
            loads.append(("after the rerun", os.getloadavg()))
    print(f"{os.cpu_count()} cores; load average (1/5/15 min) "
          + "; ".join(f"{when} {a:.2f}/{b:.2f}/{c:.2f}" for when, (a, b, c) in loads))
    show("first run", first)
    show(f"rerun after adding one function to {changed}", second)
    tasks = first["tasks"]
    report_end = tasks.get("process.report", (None, None))[1]
    embed_end = tasks.get("process.embed", (None, None))[1]
    before = bool(report_end and embed_end and report_end < embed_end)
    e1, e2 = first["embed"], second["embed"]
    margin = (embed_end - report_end).total_seconds() if before else 0.0
    print(f"first run {first['seconds']:.1f}s (goal <= {GOAL_SECONDS}s); report ended "
          f"{f'{margin:.1f}s before' if before else 'NOT before'} embed; {e1.get('chunks')} chunks, "
          f"{e1.get('embedded')} embedded, model {e1.get('model')}")
    print(f"rerun: {e2.get('embedded')} embedded, {e2.get('unchanged')} unchanged, {e2.get('deleted')} "
          f"deleted (the changed file's module chunk and the new function's)")
    ok = (first["state"] == second["state"] == "success" and first["seconds"] <= GOAL_SECONDS and before
          and e2.get("embedded", 99) <= 3)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
