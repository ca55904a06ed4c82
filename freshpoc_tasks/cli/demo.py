"""``freshpoc demo``: the end-to-end job a newcomer runs after ``make demo`` starts the stack.

It registers the example projects of include/examples/ and this repository itself, triggers
``freshpoc_pipeline`` through Airflow's REST API (as a user or CI system would), waits, and
prints where the reports are and a few figures read back from the graph and the search index.

It ends with links a browser opens — the report browser Airflow serves, each repository's report
page, MinIO's console at each staged report — next to the ``s3://`` URIs the tasks record.
``--no-run`` prints the same for what the stack already holds, without triggering anything.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any
from urllib.parse import quote

from freshpoc_tasks.stack.client import one_line_errors, use_local_stack

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
    parser.add_argument("--no-run", action="store_true",
                        help="trigger nothing: print the links, figures and search answer for what "
                        "the stack already holds")
    parser.set_defaults(func=_demo)


def report_links(cfg: Any, repo_id: str, commit: str | None) -> dict[str, str]:
    """Where a repository's report opens in a browser, and the staged copies' URIs.

    ``page`` is the report the query API renders inside Airflow (log in once; the plugin accepts
    the UI's session); ``console`` opens MinIO's object browser at the staged HTML.
    """
    from freshpoc_tasks.contracts.locations import BUCKET, report_key
    from freshpoc_tasks.stack.services import minio_console_url

    page = f"{cfg.airflow_url}/freshpoc/reports/repository?format=html&repo={quote(repo_id, safe='')}"
    links = {"page": page}
    if commit:
        html_key = report_key(repo_id, commit, "html")
        links["s3"] = f"s3://{BUCKET}/{html_key}"
        links["s3_md"] = f"s3://{BUCKET}/{report_key(repo_id, commit, 'md')}"
        links["console"] = f"{minio_console_url(cfg)}/browser/{quote(BUCKET)}/{quote(html_key, safe='')}"
    return links


def _print_links(cfg: Any, repos: list[dict[str, Any]], run_url: str | None) -> None:
    from freshpoc_tasks.stack.config import MINIO_PASSWORD, MINIO_USER
    from freshpoc_tasks.stack.services import minio_console_url

    if repos:
        print("\nReports (open the http links in a browser):")
    for repo in sorted(repos, key=lambda r: r["repo_id"]):
        links = report_links(cfg, repo["repo_id"], repo.get("last_commit"))
        print(f"  {repo['repo_id']} @ {(repo.get('last_commit') or 'not processed')[:12]}")
        print(f"    page     {links['page']}")
        if "s3" in links:
            print(f"    staged   {links['s3']}  ({links['s3_md'].rsplit('/', 1)[-1]} next to it)")
            print(f"    console  {links['console']}")
    print("\nOpen in a browser:")
    print(f"  Airflow UI       {cfg.airflow_url}  (login admin / admin)")
    print(f"  Report browser   {cfg.airflow_url}/freshpoc/reports  (Airflow menu: Browse > FreshPoC reports)")
    print(f"  Ontology review  {cfg.airflow_url}/freshpoc/proposals/page")
    if run_url:
        print(f"  This run         {run_url}")
    print(f"  MinIO console    {minio_console_url(cfg)}/browser/freshpoc  "
          f"(login {MINIO_USER} / {MINIO_PASSWORD})")


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


def _locations(cfg: Any, args: argparse.Namespace, *, materialise: bool) -> list[str]:
    """The example projects (as git repositories under the state folder) and this checkout."""
    from freshpoc_tasks.stack.examples import materialise_examples

    root = cfg.state_dir / "examples"
    if materialise:
        locations = list(materialise_examples(cfg.checkout, root).values())
    else:
        locations = [str(root / d.name) for d in sorted((cfg.checkout / "include" / "examples").iterdir())
                     if d.is_dir()]
    if not args.no_self and (cfg.checkout / ".git").exists():
        locations.append(str(cfg.checkout))
    return locations


@one_line_errors
def _demo(args: argparse.Namespace) -> int:
    import httpx

    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    use_local_stack(cfg)
    locations = _locations(cfg, args, materialise=not args.no_run)
    dag_id = "freshpoc_pipeline"
    state, run_url = "success", None
    try:
        if not args.no_run:
            state, run_url = _run(cfg, dag_id, locations, args)
        from freshpoc_tasks.hooks.registry import RepoRegistry

        repos = [r for r in RepoRegistry().repositories() if r["location"] in locations]
        if repos:
            _figures(cfg, repos)
            _search()
        else:
            print("no example repository processed yet: run 'freshpoc demo' (or 'make demo')")
        _print_links(cfg, repos, run_url)
    except (httpx.HTTPError, TimeoutError) as exc:
        print(f"error: {exc} (is the stack up? 'freshpoc stack status')", file=sys.stderr)
        return 1
    return 0 if state == "success" else 1


def _run(cfg: Any, dag_id: str, locations: list[str], args: argparse.Namespace) -> tuple[str, str]:
    """Trigger the pipeline over REST, wait, and say what failed; returns (state, run URL)."""
    from freshpoc_tasks.stack.airflow_rest import AirflowRest

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
        if not any(t["task_id"] == "process.report" and t["state"] == "success" for t in tis):
            print("    (nothing new to report: every repository was unchanged; --force reprocesses)")
    return state, f"{cfg.airflow_url}/dags/{dag_id}/runs/{quote(run_id, safe='')}"
