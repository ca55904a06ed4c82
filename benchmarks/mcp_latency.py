"""Tool-call latency of the MCP server on a generated graph of ~111k nodes (``--scale 1``), through
the SDK's own client, over streamable HTTP (the query API app that Airflow mounts) and over stdio
(``freshpoc mcp --graph DIR`` on the same graph in local files).

The graph is benchmarks/query_api.py's synthetic repository (modules, functions, files, folders,
warehouse tables and columns with lineage chains, dbt models, commits, coupling), written at its
three commits by ``GraphWriter`` into Dgraph and, the same deltas, into a ``LocalGraph`` saved to a
temporary report folder. Each tool is then called ``--repeat`` times with varied arguments
(random modules, columns, folders; first pages and a deep cursor) after one warm-up call; the
latency is the client's wall time from sending ``tools/call`` to holding the parsed result. It
prints p50/p95 per tool and transport, the p95 over all tool calls, and the errors (none
expected). Goal: p95 < 250 ms per call at scale 1 on 2 cores. Nothing is asserted.

    .venv/bin/python benchmarks/mcp_latency.py [--scale 1] [--repeat 30] [--target private|stack]

``--target private`` (default) starts a private Dgraph (the binary ``freshpoc stack up`` built, own
state folder and ports) and serves the API app, MCP included, on a loopback port with access
allowed. ``--target stack`` writes the graph into the stack's Dgraph (repository
``bench/synthetic``, removed at the end) and calls Airflow's api-server at ``/freshpoc/mcp`` with
an admin token, as an agent would. ``search`` is not timed: it needs Weaviate embeddings of the
synthetic code, which the benchmark does not build.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.query_api import COMMITS, REPO, TIMES, Picks, dgraph, forget, generate, pct  # noqa: E402
from freshpoc_tasks.graph.ontology import load_graph_ontology  # noqa: E402
from freshpoc_tasks.mcp.paging import encode_cursor  # noqa: E402

Case = Callable[[], dict[str, Any]]


def cases(rng: random.Random, scale: float, local: bool) -> dict[str, tuple[str, Case]]:
    """Label -> (tool, arguments maker). Owners and saved queries are Dgraph's: not asked locally."""
    pick = Picks(rng, scale)
    n_mod, mod, pkg, col = pick.n_mod, pick.mod, pick.pkg, pick.col

    r = {"repo": REPO}
    diff = {**r, "from_commit": COMMITS[0], "to_commit": COMMITS[1]}
    out: dict[str, tuple[str, Case]] = {
        "node": ("node", lambda: {"xid": mod()}),
        "dependencies down d3": ("dependencies", lambda: {"xid": mod(), "depth": 3}),
        "dependencies up d2": ("dependencies", lambda: {"xid": mod(), "direction": "up", "depth": 2}),
        "lineage up d5": ("lineage", lambda: {"xid": col(), "depth": 5}),
        "lineage down d3": ("lineage", lambda: {"xid": col(), "direction": "down"}),
        "impact (changed node)": ("impact", lambda: {**r, "changed": [mod()]}),
        "impact (commit)": ("impact", lambda: {**r, "commit": COMMITS[rng.choice((1, 2))], "limit": 20}),
        "hotspots (first page)": ("hotspots", lambda: dict(r)),
        "hotspots (deep cursor)": ("hotspots", lambda: {
            **r, "cursor": encode_cursor(rng.randrange(1000, n_mod - 100))}),
        "graph_diff (first page)": ("graph_diff", lambda: {**diff}),
        "graph_diff (cursor)": ("graph_diff", lambda: {
            **diff, "cursor": encode_cursor(rng.randrange(50, 2500))}),
    }
    if not local:
        out["owners (folder)"] = ("owners", lambda: {**r, "path": pkg()})
        out["run_saved_query"] = ("run_saved_query", lambda: {"name": "path_owner",
                                                             "params": {**r, "path": pkg()}})
    return out


async def measure(client: Any, table: dict[str, tuple[str, Case]], repeat: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for label, (tool, make) in table.items():
        await client.call_tool(tool, make())  # warm caches once, as a long-running server has them
        times, errors = [], []
        for _ in range(repeat):
            args = make()
            t = time.perf_counter()
            r = await client.call_tool(tool, args)
            times.append((time.perf_counter() - t) * 1000)
            if r.is_error:
                errors.append(r.content[0].text[:200])
        results[label] = (times, errors)
        print(f"  {label}: p50 {statistics.median(times):.1f} ms, p95 {pct(times, 0.95):.1f} ms"
              + (f", {len(errors)} errors: {errors[0]}" if errors else ""), flush=True)
    return results


def serve_app(conn: str) -> tuple[str, Callable[[], None]]:
    """The query API app (MCP at /mcp) on a loopback port over Dgraph ``conn``, access allowed."""
    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.hooks.dgraph import DgraphHook
    from freshpoc_tasks.testing.serve import ServedApp

    async def anyone() -> str:
        return "benchmark"

    served = ServedApp(create_app(runner_factory=lambda: DgraphHook(conn), auth_dependency=anyone))
    return f"{served.url}/mcp", served.stop


def stack_url_and_token() -> tuple[str, str]:
    import httpx

    from freshpoc_tasks.stack.config import StackConfig

    base = StackConfig.from_env().airflow_url
    user = {"username": os.environ.get("FRESHPOC_AIRFLOW_USER", "admin"),
            "password": os.environ.get("FRESHPOC_AIRFLOW_PASSWORD", "admin")}
    token = httpx.post(f"{base}/auth/token", json=user, timeout=30)
    token.raise_for_status()
    return f"{base}/freshpoc/mcp", token.json()["access_token"]


async def over_http(url: str, token: str | None, table: dict[str, tuple[str, Case]], repeat: int) -> Any:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx2.AsyncClient(headers=headers, timeout=300) as http, \
            Client(streamable_http_client(url, http_client=http)) as client:
        return await measure(client, table, repeat)


async def over_stdio(folder: Path, table: dict[str, tuple[str, Case]], repeat: int) -> Any:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT),
                                   args=["-m", "freshpoc_tasks.cli.main", "mcp", "--graph", str(folder)],
                                   env={"PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/root")})
    async with Client(params, read_timeout_seconds=300) as client:
        return await measure(client, table, repeat)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = ~111k nodes")
    ap.add_argument("--repeat", type=int, default=30)
    ap.add_argument("--target", choices=["private", "stack"], default="private",
                    help="stack: write into the stack's Dgraph and call Airflow's api-server")
    args = ap.parse_args()
    from freshpoc_tasks.graph.local_store import LocalGraph
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="freshpoc-bench-mcp-") as tmp, dgraph(args.target) as conn, \
            DgraphHook(conn) as hook:
        local = LocalGraph()
        writer = GraphWriter(hook, onto)
        writer.ensure_schema()
        try:
            for variant, when in enumerate(TIMES):
                delta = generate(args.scale, random.Random(8), variant)
                t0 = time.perf_counter()
                writer.apply(delta, committed_at=when)
                t1 = time.perf_counter()
                local.apply(delta, when, onto)
                print(f"commit {variant + 1}: {len(delta.nodes)} nodes, {len(delta.edges)} edges; "
                      f"Dgraph {t1 - t0:.1f} s, local {time.perf_counter() - t1:.1f} s", flush=True)
            folder = Path(tmp) / "graph"
            local.save(folder)
            del local
            if args.target == "stack":
                url, token = stack_url_and_token()
                stop: Callable[[], None] = lambda: None  # noqa: E731
                label = "HTTP (Airflow api-server /freshpoc/mcp)"
            else:
                (url, stop), token = serve_app(conn), None
                label = "HTTP (query API app, loopback)"
            try:
                print(f"\n{label}", flush=True)
                results[label] = asyncio.run(over_http(url, token, cases(random.Random(8), args.scale, False),
                                                       args.repeat))
            finally:
                stop()
            print("\nstdio (freshpoc mcp --graph, local files)", flush=True)
            results["stdio"] = asyncio.run(over_stdio(folder, cases(random.Random(8), args.scale, True),
                                                      args.repeat))
        finally:
            if args.target == "stack":
                forget(hook)
    print(f"\n{'tool call':28} " + " ".join(f"{name[:22]:>24}" for name in results) + "   (p95 ms)")
    labels = list(next(iter(results.values())))
    for lab in labels:
        cells = [f"{pct(r[lab][0], 0.95):24.1f}" if lab in r else f"{'-':>24}" for r in results.values()]
        print(f"{lab:28} " + " ".join(cells))
    for name, r in results.items():
        every = [t for times, _ in r.values() for t in times]
        errors = sum(len(e) for _, e in r.values())
        p95 = pct(every, 0.95)
        print(f"{name}: {len(every)} tool calls, p50 {statistics.median(every):.1f} ms, p95 {p95:.1f} ms, "
              f"{errors} errors  goal p95 < 250 ms: {'ok' if p95 < 250 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
