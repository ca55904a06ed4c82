"""Scaling of freshpoc_pipeline over Celery task slots on the cluster profile (issue 18).

    freshpoc stack up --profile cluster
    .venv/bin/python benchmarks/scale_out.py [--repos 20] [--files 40] [--slots 1,2,4]
    freshpoc stack down --profile cluster

Generates ``--repos`` deterministic mid-size Python repositories (``--files`` modules of classes,
functions, imports and docstrings each, one commit), then processes all of them in one
freshpoc_pipeline run per setting of ``--slots``: the total number of Celery task slots. Slots
are set with Celery's own remote control, not a restart: a worker left out stops consuming every
queue (``cancel_consumer``), and a worker's pool is shrunk or grown to its share
(``pool_shrink``/``pool_grow``). Each setting gets fresh copies of the repositories (new ids), so
every run processes every commit.

Prints wall time and speed-up against 1 slot (measured in the same invocation), and the per-stage
profile (task-seconds summed over repositories, from Airflow's task instances) that explains the
speed-up; then projects, from the per-repository stage costs, the task slots, workers and graph
writers needed to refresh 10,000 repositories once a day. On a 2-core machine the speed-up is
bounded by the cores, whatever the slots: the profile says how much of the work is CPU.
Say the load average with the figures (printed at the start and end).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DAG = "freshpoc_pipeline"
DAY_S = 86400
TARGET_REPOS = 10_000


def write_repository(dest: Path, seed: int, files: int) -> None:
    """A deterministic Python package: ``files`` modules, each importing two others, with a
    class of four methods and six functions with docstrings (about 120 lines a module)."""
    pkg = dest / f"pkg{seed}"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(f'"""Package {seed}."""\n')
    for i in range(files):
        a, b = (i * 7 + 3) % files, (i * 13 + 5) % files
        lines = [f'"""Module {i} of package {seed}."""', "",
                 f"from pkg{seed} import m{a}, m{b}" if a != i and b != i else "", "", ""]
        lines += [f"class Thing{i}:", f'    """A thing, number {i}."""', ""]
        for k in range(4):
            lines += [f"    def method{k}(self, x: int) -> int:",
                      f'        """Add {k} and scale."""', f"        return (x + {k}) * {i + 1}", ""]
        for k in range(6):
            callee = f"m{a}.fn{k}" if a != i else f"fn{(k + 1) % 6}"
            lines += ["", f"def fn{k}(x: int) -> int:", f'    """Function {k} of module {i}."""',
                      f"    if x > {k * 10}:", f"        return {callee}(x - 1)" if k else
                      "        return x", f"    return x + {k}", ""]
        (pkg / f"m{i}.py").write_text("\n".join(lines) + "\n")
    (dest / "README.md").write_text(f"# Package {seed}\n\nGenerated for benchmarks/scale_out.py.\n")


def set_slots(stack, slots: int) -> dict[str, int]:
    """Spread ``slots`` task slots over the workers with Celery's remote control; returns each
    worker's share. A worker with no share stops consuming every queue."""
    from celery import Celery

    from freshpoc_tasks.stack.cluster import QUEUES, WORKER_CONCURRENCY, WORKERS, worker_hostname

    assert 1 <= slots <= WORKERS * WORKER_CONCURRENCY, "more slots than the profile's workers hold"
    app = Celery(broker=f"redis://127.0.0.1:{stack.cfg.ports['redis']}/0")
    shares = {}
    try:
        stats = app.control.inspect(timeout=3).stats() or {}
        left = slots
        for i in range(1, WORKERS + 1):
            host = worker_hostname(i)
            want = min(WORKER_CONCURRENCY, left)
            left -= want
            shares[host] = want
            have = len((stats.get(host) or {}).get("pool", {}).get("processes", [])) or WORKER_CONCURRENCY
            queues = {q["name"] for q in (app.control.inspect(destination=[host], timeout=3)
                                          .active_queues() or {}).get(host, [])}
            if want == 0:
                for q in queues:
                    app.control.cancel_consumer(q, destination=[host], reply=True, timeout=3)
                continue
            for q in set(QUEUES) - queues:
                app.control.add_consumer(q, destination=[host], reply=True, timeout=3)
            if want < have:
                app.control.pool_shrink(have - want, destination=[host], reply=True, timeout=3)
            elif want > have:
                app.control.pool_grow(want - have, destination=[host], reply=True, timeout=3)
    finally:
        app.close()
    return shares


def run_once(af, paths: list[str]) -> tuple[float, str, dict[str, float], str]:
    """One pipeline run over every path: (wall s, state, task-seconds by stage, run id)."""
    run_id = af.trigger(DAG, {"repos": paths})
    state = af.wait(DAG, run_id, timeout=6 * 3600, poll=2)
    r = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}")
    start, end = (datetime.fromisoformat(r[k].replace("Z", "+00:00")) for k in ("start_date", "end_date"))
    stages: dict[str, float] = defaultdict(float)
    offset = 0
    while True:
        page = af.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances",
                      params={"limit": 100, "offset": offset})["task_instances"]
        for ti in page:
            stages[ti["task_id"].split(".")[-1]] += float(ti.get("duration") or 0.0)
        offset += len(page)
        if len(page) < 100:
            break
    return (end - start).total_seconds(), state, dict(stages), run_id


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=20)
    parser.add_argument("--files", type=int, default=40, help="modules per repository")
    parser.add_argument("--slots", default="1,2,4", help="total Celery task slots to measure")
    args = parser.parse_args()
    slot_list = [int(s) for s in args.slots.split(",")]

    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.cluster import WORKER_CONCURRENCY, WORKERS, use_cluster
    from freshpoc_tasks.stack.examples import materialise_example
    from freshpoc_tasks.stack.manager import Stack

    stack = Stack(profile="cluster")
    rows = stack.status()
    if not all(r.state == "healthy" for r in rows):
        print("the cluster profile is not healthy: freshpoc stack up --profile cluster")
        return 2
    use_cluster(stack.cfg)
    print(f"load average at start: {os.getloadavg()}; cores: {os.cpu_count()}")
    results = []
    with tempfile.TemporaryDirectory(prefix="freshpoc-scale-") as tmp, \
            AirflowRest(stack.cfg.airflow_url) as af:
        sources = []
        for n in range(args.repos):
            src = Path(tmp, "src", f"r{n}")
            write_repository(src, n, args.files)
            sources.append(src)
        try:
            for slots in slot_list:
                shares = set_slots(stack, slots)
                tag = uuid.uuid4().hex[:6]
                paths = [materialise_example(src, Path(tmp, f"s{slots}", f"scale_{tag}_{src.name}"))[0]
                         for src in sources]
                wall, state, stages, run_id = run_once(af, paths)
                results.append((slots, wall, state, stages))
                print(f"slots {slots} ({shares}): {wall:.0f}s {state} run {run_id}", flush=True)
        finally:
            set_slots(stack, WORKERS * WORKER_CONCURRENCY)
    print(f"load average at end: {os.getloadavg()}")

    base = next((w for s, w, _st, _p in results if s == 1), results[0][1])
    print(f"\n{args.repos} repositories x {args.files} modules, freshpoc_pipeline, one run per row")
    print(f"{'slots':>5} {'wall s':>8} {'speed-up':>8} {'state':>8}")
    for slots, wall, state, _p in results:
        print(f"{slots:>5} {wall:>8.0f} {base / wall:>8.2f} {state:>8}")
    stages_all = sorted({k for *_r, p in results for k in p})
    print("\ntask-seconds by stage (sum over repositories), per row:")
    print(f"{'stage':>14} " + " ".join(f"{'s=' + str(s):>8}" for s, *_r in results))
    for stage in stages_all:
        print(f"{stage:>14} " + " ".join(f"{p.get(stage, 0):>8.0f}" for *_r, p in results))
    # Projection from the 1-slot run (no contention between tasks: each stage's own cost).
    _s, _w, _st, p1 = next((r for r in results if r[0] == 1), results[0])
    per_repo = {k: v / args.repos for k, v in p1.items()}
    busy = sum(per_repo.values()) * TARGET_REPOS / DAY_S
    graph = per_repo.get("write_graph", 0.0) * TARGET_REPOS / DAY_S
    print(f"\nprojection for {TARGET_REPOS:,} such repositories refreshed daily "
          f"(from the 1-slot run's {sum(per_repo.values()):.1f} task-seconds per repository):")
    print(f"  task slots busy all day: {busy:.1f}  -> Celery workers of {WORKER_CONCURRENCY} slots "
          f"at 70% utilisation: {max(1, round(busy / (WORKER_CONCURRENCY * 0.7) + 0.49))}")
    print(f"  concurrent graph writers: {graph:.2f} (write_graph {per_repo.get('write_graph', 0):.1f}"
          " s per repository; one Dgraph group of 3 alphas takes the freshpoc_graph_writes pool's 2)")
    return 0 if all(st == "success" for _s, _w, st, _p in results) else 1


if __name__ == "__main__":
    sys.exit(main())
