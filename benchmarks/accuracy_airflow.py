"""Accuracy of the Airflow DAG-file analyzer against Airflow's own DagBag.

The analyzer reads DAG files statically (``ast`` only, nothing imported). Airflow's ``DagBag``
imports the same files and builds the real DAG objects, so it is the oracle: per DAG its
``dag_id``, every ``task_id`` and every dependency edge (``task.downstream_task_ids``). The
oracle runs in a subprocess of the project's venv (which ships Airflow 3.3.2 and its example
DAGs) with ``AIRFLOW_HOME`` in a temporary folder and ``load_examples`` off, so nothing of the
local stack is touched and only the given folder is parsed. The analyzer runs through the
analysis engine on the same files, each folder as its own repository.

Printed: DAG-id recall/precision, task recall/precision, dependency-edge precision/recall/F1,
then every miss and every extra grouped by class and file, so a regression points at its cause.

    .venv/bin/python benchmarks/accuracy_airflow.py [--dags PATH ...] [--misses N]

Without ``--dags`` it measures the example DAGs shipped in the venv: ``airflow/example_dags``
plus the providers' ``example_dags`` folders (standard, common.sql) when present. ``--dags`` may
be repeated; each folder is parsed by DagBag and by the analyzer as one repository (a folder
inside a project is analysed with its project, whose root is DagBag's path and working
directory). Files DagBag cannot import are left out of both sides and listed.

Core examples alone (where the first figures, task recall 0.73 / edge F1 0.65, were taken):

    .venv/bin/python benchmarks/accuracy_airflow.py \\
        --dags .venv/lib/python3.11/site-packages/airflow/example_dags

Known disagreement: ``example_kubernetes_executor`` and ``example_local_kubernetes_executor``
define their DAG under ``if k8s:``, where ``k8s`` is an optional import; DagBag builds them only
where the ``kubernetes`` package is installed, the static analysis always reports them (with an
``optional_import_dag`` warning). To give the oracle that package without touching the project's
venv, run the benchmark from an overlay venv (measured so: 1.000 for DAG ids, tasks and edges on
the core folder and on the default set, 116 DAGs / 429 tasks / 368 edges):

    python3 -m venv /tmp/k8s
    echo "import site; site.addsitedir('$PWD/.venv/lib/python3.11/site-packages')" \
        > /tmp/k8s/lib/python3.11/site-packages/zz_project.pth
    /tmp/k8s/bin/pip install kubernetes
    /tmp/k8s/bin/python benchmarks/accuracy_airflow.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.analysis.airflow import AirflowAnalyzer  # noqa: E402
from freshpoc_tasks.analysis.engine import analyse_repository  # noqa: E402
from freshpoc_tasks.analysis.model import RepoContext, SourceFile  # noqa: E402

# Runs inside the venv's python; writes JSON to the path in argv[2] (Airflow logs to stdout).
ORACLE = r"""
import json, os, sys
from airflow.dag_processing.dagbag import DagBag
folder, out_path = sys.argv[1], sys.argv[2]
bag = DagBag(dag_folder=folder)
dags = []
for dag_id, dag in sorted(bag.dags.items()):
    dags.append({"dag_id": dag_id, "file": os.path.relpath(dag.fileloc, folder),
                 "tasks": sorted(dag.task_dict),
                 "edges": sorted([t.task_id, d] for t in dag.tasks for d in t.downstream_task_ids)})
errors = {os.path.relpath(str(k), folder): str(v).strip().splitlines()[-1][:200]
          for k, v in bag.import_errors.items()}
with open(out_path, "w") as fh:
    json.dump({"dags": dags, "errors": errors}, fh)
"""


def default_folders() -> list[Path]:
    """The example DAG folders that ship with the venv's Airflow and providers."""
    import importlib.util

    spec = importlib.util.find_spec("airflow")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("airflow is not importable here: run with the project's .venv/bin/python")
    base = Path(next(iter(spec.submodule_search_locations)))
    candidates = [base / "example_dags", base / "providers" / "standard" / "example_dags",
                  base / "providers" / "common" / "sql" / "example_dags"]
    return [c for c in candidates if c.is_dir()]


def run_oracle(folder: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="freshpoc-dagbag-") as home:
        out = Path(home) / "oracle.json"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        # A project's root is on the path in Airflow deployments (``include/`` helpers); a folder
        # inside a package (the venv's example DAGs) must not put that package's modules first.
        if not (folder.parent / "__init__.py").exists():
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder.parent), env.get("PYTHONPATH")]))
        env.update(AIRFLOW_HOME=home, AIRFLOW__CORE__LOAD_EXAMPLES="False",
                   AIRFLOW__CORE__DAGS_FOLDER=str(folder), AIRFLOW__CORE__UNIT_TEST_MODE="False")
        # ... and is the working directory (Astro's AIRFLOW_HOME), for config files read at parse time
        cwd = folder if (folder.parent / "__init__.py").exists() else folder.parent
        proc = subprocess.run([sys.executable, "-c", ORACLE, str(folder), str(out)], env=env, cwd=cwd,
                              capture_output=True, text=True, timeout=600, check=False)
        if proc.returncode != 0 or not out.exists():
            raise SystemExit(f"DagBag oracle failed on {folder}:\n{proc.stderr[-2000:]}")
        return json.loads(out.read_text())


class _FolderAnalyzer(AirflowAnalyzer):
    """The analyzer, claiming only the DAG folder's files; the rest of the project is context
    (so copies of DAGs elsewhere in the project do not merge with the ones measured)."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        return file.path.startswith(self.prefix) and super().accepts(file, ctx)


def run_analyzer(folder: Path, skip: set[str]) -> tuple[dict, list, float]:
    """DAGs, tasks and edges the analyzer finds, in the oracle's shape, plus its diagnostics.

    Files DagBag could not import (``skip``) are left out: the oracle has no answer for them. A DAG
    folder inside a project (its parent is not a package) is analysed as part of the project, so
    helpers the DAGs import (``include/``) are there, as they are for DagBag; only DAGs defined
    in the DAG folder count.
    """
    root = folder if (folder.parent / "__init__.py").exists() else folder.parent
    prefix = folder.relative_to(root).as_posix()
    prefix = "" if prefix == "." else prefix + "/"
    files = [SourceFile.from_text(p.relative_to(root).as_posix(), p.read_bytes())
             for p in sorted(root.rglob("*"))
             if p.is_file() and p.suffix in (".py", ".sql", ".json", ".yaml", ".yml")
             and not {"__pycache__", ".git", ".venv", "node_modules"} & set(p.relative_to(root).parts)
             and p.relative_to(root).as_posix().removeprefix(prefix) not in skip]
    start = time.perf_counter()
    delta = analyse_repository(files, f"local/{folder.name}", analyzers=[_FolderAnalyzer(prefix)])
    elapsed = time.perf_counter() - start
    nodes = {n.id: n for n in delta.nodes}
    dags: dict[str, dict] = {}
    task_dag: dict[str, str] = {}
    for n in delta.nodes:
        if n.type == "airflow.dag" and (n.path or "").startswith(prefix):
            dags[n.props["dag_id"]] = {"dag_id": n.props["dag_id"], "file": n.path.removeprefix(prefix),
                                       "tasks": set(), "edges": set()}
    for e in delta.edges:
        if e.type == "has_task" and e.src in nodes and e.dst in nodes and (
                nodes[e.src].props["dag_id"] in dags):
            dag_id = nodes[e.src].props["dag_id"]
            task_dag[e.dst] = dag_id
            dags[dag_id]["tasks"].add(nodes[e.dst].props["task_id"])
    for e in delta.edges:
        if e.type == "upstream_of" and e.src in task_dag and e.dst in task_dag:
            dag_id = task_dag[e.src]
            dags[dag_id]["edges"].add((nodes[e.src].props["task_id"], nodes[e.dst].props["task_id"]))
    return dags, list(delta.diagnostics), elapsed


def prf(found: set, truth: set) -> tuple[float, float, float]:
    tp = len(found & truth)
    p = tp / len(found) if found else 1.0
    r = tp / len(truth) if truth else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dags", type=Path, action="append",
                    help="a folder of DAG files (repeatable); files DagBag cannot import are left out")
    ap.add_argument("--misses", type=int, default=40, help="misses listed per class (0: counts only)")
    args = ap.parse_args()
    folders = [p.resolve() for p in (args.dags or default_folders())]

    truth_dags: set[tuple] = set()
    truth_tasks: set[tuple] = set()
    truth_edges: set[tuple] = set()
    found_dags: set[tuple] = set()
    found_tasks: set[tuple] = set()
    found_edges: set[tuple] = set()
    file_of: dict[tuple, str] = {}
    diag_counts: dict[str, int] = defaultdict(int)
    oracle_errors: dict[str, str] = {}
    total_time = 0.0
    for folder in folders:
        f = "/".join(folder.parts[-3:])
        oracle = run_oracle(folder)
        oracle_errors.update({f"{f}/{k}": v for k, v in oracle["errors"].items()})
        for d in oracle["dags"]:
            key = (f, d["dag_id"])
            truth_dags.add(key)
            file_of[key] = d["file"]
            truth_tasks |= {(*key, t) for t in d["tasks"]}
            truth_edges |= {(*key, u, v) for u, v in d["edges"]}
        ours, diags, elapsed = run_analyzer(folder, set(oracle["errors"]))
        total_time += elapsed
        for d in ours.values():
            key = (f, d["dag_id"])
            found_dags.add(key)
            file_of.setdefault(key, d["file"])
            found_tasks |= {(*key, t) for t in d["tasks"]}
            found_edges |= {(*key, u, v) for u, v in d["edges"]}
        for diag in diags:
            diag_counts[diag.code] += 1

    print(f"folders: {', '.join(str(p) for p in folders)}")
    print(f"oracle (DagBag): {len(truth_dags)} DAGs, {len(truth_tasks)} tasks, {len(truth_edges)} edges; "
          f"import errors: {len(oracle_errors)} (those files are left out of both sides)")
    for path, err in sorted(oracle_errors.items())[:args.misses]:
        print(f"  oracle import error {path}: {err}")
    print(f"analyzer: {len(found_dags)} DAGs, {len(found_tasks)} tasks, {len(found_edges)} edges "
          f"in {total_time:.2f}s; diagnostics: {dict(sorted(diag_counts.items()))}")
    dp, dr, _ = prf(found_dags, truth_dags)
    tp, tr, tf = prf(found_tasks, truth_tasks)
    ep, er, ef = prf(found_edges, truth_edges)
    print(f"DAG ids:  recall {dr:.3f}  precision {dp:.3f}")
    print(f"tasks:    recall {tr:.3f}  precision {tp:.3f}  F1 {tf:.3f}")
    print(f"edges:    recall {er:.3f}  precision {ep:.3f}  F1 {ef:.3f}")

    classes: dict[str, list[str]] = defaultdict(list)
    for key in sorted(truth_dags - found_dags):
        classes["missed DAG"].append(f"{file_of[key]}: {key[1]}")
    for key in sorted(found_dags - truth_dags):
        classes["extra DAG"].append(f"{file_of[key]}: {key[1]}")
    for f, dag, t in sorted(truth_tasks - found_tasks):
        cls = "missed task (DAG missed)" if (f, dag) not in found_dags else (
            "missed task (group-prefixed id)" if "." in t else "missed task")
        classes[cls].append(f"{file_of[(f, dag)]}: {dag}.{t}")
    for f, dag, t in sorted(found_tasks - truth_tasks):
        cls = "extra task (DAG not in oracle)" if (f, dag) not in truth_dags else "extra task"
        classes[cls].append(f"{file_of[(f, dag)]}: {dag}.{t}")
    for f, dag, u, v in sorted(truth_edges - found_edges):
        if (f, dag) not in found_dags:
            cls = "missed edge (DAG missed)"
        elif (f, dag, u) not in found_tasks or (f, dag, v) not in found_tasks:
            cls = "missed edge (task missed)"
        else:
            cls = "missed edge (both tasks found)"
        classes[cls].append(f"{file_of[(f, dag)]}: {dag}: {u} >> {v}")
    for f, dag, u, v in sorted(found_edges - truth_edges):
        cls = "extra edge (task not in oracle)" if (
            (f, dag, u) not in truth_tasks or (f, dag, v) not in truth_tasks) else "extra edge"
        classes[cls].append(f"{file_of[(f, dag)]}: {dag}: {u} >> {v}")
    for cls, items in classes.items():
        print(f"\n{cls}: {len(items)}")
        for item in items[:args.misses]:
            print(f"  {item}")
        if len(items) > args.misses > 0:
            print(f"  ... {len(items) - args.misses} more")


if __name__ == "__main__":
    main()
