"""``freshpoc demo``: the end-to-end job a newcomer runs after ``make demo`` starts the stack.

It registers the example projects of include/examples/ and this repository itself, triggers
``freshpoc_pipeline`` through Airflow's REST API (as a user or CI system would), waits, and
prints where the reports are and a few figures read back from the graph and the search index.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any

LINEAGE_COLUMN = "sql.column:default:jaffle_shop.main.customers.lifetime_value"
QUESTION = "where is the total amount a customer has paid worked out?"


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "demo", help="run the pipeline on the example projects and this repository",
        description="Register include/examples/* and this checkout, trigger freshpoc_pipeline "
        "over Airflow's REST API v2, wait, then print report locations, graph figures, a lineage "
        "path and one semantic-search answer. Run 'freshpoc stack up' (or 'make demo') first.")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait (default 1800)")
    parser.add_argument("--force", action="store_true", help="reprocess even unchanged repositories")
    parser.add_argument("--no-self", action="store_true", help="leave this repository out")
    parser.set_defaults(func=_demo)


def _connections(cfg: Any) -> None:
    from freshpoc_tasks.stack.services import client_env

    os.environ.update(client_env(cfg))
    # The demo prints its own summary; hooks' per-statement logs would drown it.
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"


def _label(node: dict[str, Any]) -> str:
    """``table.column`` for columns, the node's name otherwise."""
    xid = node.get("xid", "")
    if xid.startswith("sql.column:"):
        return ".".join(xid.rsplit(":", 1)[-1].split(".")[-2:])
    return node.get("name") or xid


def _path(tree: dict[str, Any], edge_names: tuple[str, ...]) -> list[str]:
    """The longest chain of names in a nested lineage answer."""
    best: list[str] = []
    for name in edge_names:
        for child in tree.get(name, []) or []:
            sub = _path(child, edge_names)
            if len(sub) > len(best):
                best = sub
    return [_label(tree), *best]


def _figures(cfg: Any, repos: list[dict[str, Any]]) -> None:
    from freshpoc_tasks.graph import queries as q
    from freshpoc_tasks.graph.ontology import load_graph_ontology
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook() as hook:
        print("\nGraph (nodes by type, current commit):")
        for repo in repos:
            answer = hook.query(*q.counts_by_type(repo["repo_id"]))
            groups = (answer.get("c") or [{}])[0].get("@groupby", [])
            total = sum(g["count"] for g in groups)
            top = ", ".join(f"{g['ntype']} {g['count']}" for g in
                            sorted(groups, key=lambda g: -g["count"])[:5])
            print(f"  {repo['repo_id']:<28} {total:>6} nodes  ({top})")
        onto = load_graph_ontology()
        answer = hook.query(*q.lineage(onto, LINEAGE_COLUMN, depth=5, direction="up"))
        if answer.get("n"):
            chain = _path(answer["n"][0], q.LINEAGE_EDGES)
            print("\nLineage of customers.lifetime_value (upstream):\n  " + " <- ".join(chain))


def _search() -> None:
    from freshpoc_tasks.hooks.weaviate import search

    hits = search(QUESTION, limit=3)
    print(f"\nSemantic search: {QUESTION!r}")
    for hit in hits:
        print(f"  {hit.score:.3f}  {hit.xid}")


def _demo(args: argparse.Namespace) -> int:
    import httpx

    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.config import StackConfig
    from freshpoc_tasks.stack.examples import materialise_examples

    cfg = StackConfig.from_env()
    _connections(cfg)
    examples = materialise_examples(cfg.checkout, cfg.state_dir / "examples")
    locations = list(examples.values())
    if not args.no_self and (cfg.checkout / ".git").exists():
        locations.append(str(cfg.checkout))
    dag_id = "freshpoc_pipeline"
    try:
        with AirflowRest(cfg.airflow_url) as af:
            start = time.monotonic()
            run_id = af.trigger(dag_id, {"repos": locations, "force": args.force})
            print(f"==> triggered {dag_id} run {run_id} over REST for {len(locations)} repositories")
            state = af.wait(dag_id, run_id, timeout=args.timeout, poll=3)
            print(f"==> {dag_id} {state} in {time.monotonic() - start:.0f}s")
            tis = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         params={"limit": 500})["task_instances"]
            failed = [f"{t['task_id']}[{t['map_index']}]" for t in tis if t["state"] == "failed"]
            if failed:
                print("    failed tasks: " + ", ".join(failed))
            reports = []
            for ti in tis:
                if ti["task_id"] == "process.report" and ti["state"] == "success":
                    xcom = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/"
                                  "process.report/xcomEntries/return_value",
                                  params={"map_index": ti["map_index"]})
                    reports.append(xcom["value"])
        from freshpoc_tasks.hooks.registry import RepoRegistry

        repos = [r for r in RepoRegistry().repositories() if r["location"] in locations]
        print("\nReports:")
        for r in sorted(reports, key=lambda r: r["uri"]):
            print(f"  {r['uri']}\n  {r['html_uri']}")
        if not reports:
            print("  (nothing new to report: every repository was unchanged; --force reprocesses)")
        _figures(cfg, repos)
        _search()
    except (httpx.HTTPError, TimeoutError) as exc:
        print(f"error: {exc} (is the stack up? 'freshpoc stack status')", file=sys.stderr)
        return 1
    print(f"\nAirflow UI: {cfg.airflow_url}/dags/{dag_id}  (login admin / admin)")
    return 0 if state == "success" else 1
