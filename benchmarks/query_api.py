"""Latency of every saved query and graph query builder the API uses, on a generated graph of
>= 100k nodes written by the real graph writer.

Starts a private Dgraph (the project's way, in a temporary state folder), applies the schema
generated from the ontology, writes a synthetic repository (modules, functions, files, folders,
warehouse tables and columns with lineage chains, dbt models, commits, coupling) with
``GraphWriter`` at three commits (the 2nd drops ~5 % of the modules, the 3rd brings them back
changed), then runs each saved query and each builder the routes call ``--repeat`` times with
varied parameters and prints p50 and p95 in milliseconds, plus each p95 as a ratio of the
node-by-id lookup measured in the same run. Goal: p95 < 100 ms on a 2-core machine. Nothing is
asserted. File-list queries (files, hotspots, coupling, folders) return a repository's whole
current list: the API filters path prefixes in Python (``path`` has only a hash index).

    .venv/bin/python benchmarks/query_api.py [--scale 1.0] [--repeat 40]

Run it from the checkout with the project's interpreter (``.venv/bin/python``, after
``make venv``; ``make bench`` runs it with the others): it starts the Dgraph binary ``freshpoc
stack up`` built, in its own state folder and ports, so the shared stack is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.api.store import GraphStore  # noqa: E402
from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node  # noqa: E402
from freshpoc_tasks.graph import queries as gq  # noqa: E402
from freshpoc_tasks.graph.ontology import load_graph_ontology  # noqa: E402
from freshpoc_tasks.graph.validity import to_us  # noqa: E402
from tests.integration.api.graphdata import private_dgraph  # noqa: E402

REPO = "bench/synthetic"
WH = "wh"  # warehouse scope: tables and columns are shared, as the SQL/dbt analyzers write them
TIMES = [datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3)]


def generate(scale: float, rng: random.Random, variant: int) -> GraphDelta:
    """The repository's whole graph at commit ``variant`` (0, 1, 2)."""
    n_mod, n_tab, n_model, n_commit = (int(20000 * scale), int(5000 * scale), int(5000 * scale),
                                       int(1000 * scale))
    nodes: dict[str, Node] = {}
    edges: list[Edge] = []

    def node(t: str, key: str, scope: str = REPO, path: str | None = None, **props: Any) -> str:
        xid = f"{t}:{scope}:{key}"
        nodes[xid] = Node(id=xid, type=t, scope=scope, key=key, name=key.rsplit(".", 1)[-1], path=path,
                          props=props)
        return xid

    def edge(t: str, src: str, dst: str, **props: Any) -> None:
        edges.append(Edge(type=t, src=src, dst=dst, props=props))

    root = node("repository", REPO, url=f"https://example.com/{REPO}")
    dropped = set(range(0, n_mod, 20)) if variant == 1 else set()
    for i in range(n_mod // 100):
        f = node("folder", f"pkg{i}", path=f"pkg{i}", main_author=f"dev{i % 50}@example.com",
                 main_author_share=0.6, bus_factor=2, authors=5, revisions=rng.randint(1, 500))
        edge("contains", root, f)
    mods = []
    for i in range(n_mod):
        if i in dropped:
            mods.append(None)
            continue
        path = f"pkg{i // 100}/mod{i}.py"
        f = node("file", path, path=path, language="python", size=rng.randint(100, 20000),
                 revisions=rng.randint(1, 200), churn=rng.randint(1, 5000), authors=rng.randint(1, 9),
                 main_author=f"dev{i % 50}@example.com", main_author_share=0.5, bus_factor=rng.randint(1, 4))
        edge("contains", f"folder:{REPO}:pkg{i // 100}", f)
        doc = f"v{variant}" if variant == 2 and i % 20 == 0 else ""
        m = node("py.module", f"pkg{i // 100}.mod{i}", path=path, docstring=doc)
        mods.append(m)
        edge("defined_in", m, f)
        for k in range(2):
            fn = node("py.function", f"pkg{i // 100}.mod{i}.f{k}", path=path, complexity=rng.randint(1, 30))
            edge("defined_in", fn, f)
            edge("contains", m, fn)
    for i, m in enumerate(mods):
        if m is None:
            continue
        for j in rng.sample(range(max(0, i - 500), i), min(3, i)):
            if mods[j] is not None:
                edge("imports", m, mods[j])
    for t in range(n_tab):
        tx = node("sql.table", f"db.s.t{t}", scope=WH, fqn=f"db.s.t{t}")
        for c in range(4):
            cx = node("sql.column", f"db.s.t{t}.c{c}", scope=WH, table=f"db.s.t{t}", column=f"c{c}")
            edge("has_column", tx, cx)
            if t % 50:
                edge("derives_from", cx, f"sql.column:{WH}:db.s.t{t - 1}.c{c}")
    models: list[str] = []
    for i in range(n_model):
        mx = node("dbt.model", f"proj.m{i}", materialized="table")
        models.append(mx)
        edge("materializes_as", mx, f"sql.table:{WH}:db.s.t{i % n_tab}")
        if i % 40:
            edge("depends_on", mx, models[i - 1])
    files = [x for x, n in nodes.items() if n.type == "file"]
    for s in range(1, n_commit + 1):
        cx = node("commit", f"{s:040x}", sha=f"{s:040x}", message=f"change {s}")
        person = node("person", f"dev{s % 50}@example.com", scope="people", email=f"dev{s % 50}@example.com")
        edge("authored_by", cx, person)
        for f in rng.sample(files, 5):
            edge("modifies", cx, f, added=3, removed=1)
    for _ in range(int(2000 * scale)):
        a, b = rng.sample(files, 2)
        edge("coupled_with", a, b, shared_revisions=5, degree=55.0)
    uniq = {(e.type, e.src, e.dst): e for e in edges}
    return GraphDelta(repo_id=REPO, commit=f"c{variant}", ontology_version=load_graph_ontology().version,
                      nodes=list(nodes.values()), edges=list(uniq.values()))


def cases(rng: random.Random, scale: float, onto: Any) -> dict[str, Any]:
    """name -> () -> ("saved", name, params) or ("built", builder result)."""
    n_mod, n_tab = int(20000 * scale), int(5000 * scale)
    at = [to_us(t) for t in TIMES]

    def mod() -> str:
        i = rng.randrange(1, n_mod // 20) * 20 + rng.randrange(1, 20)
        return f"py.module:{REPO}:pkg{i // 100}.mod{i}"

    def pkg() -> str:
        return f"pkg{rng.randrange(n_mod // 100)}"

    def col() -> str:
        return f"sql.column:{WH}:db.s.t{rng.randrange(n_tab)}.c{rng.randrange(4)}"

    lineage_fw = ("derives_from", "depends_on", "reads", "materializes_as")
    lineage_bw = ("writes", "materializes_as")
    return {
        "node": lambda: ("saved", "node", {"xid": mod()}),
        "repositories": lambda: ("saved", "repositories", {"first": 50, "offset": 0}),
        "repository_overview": lambda: ("saved", "repository_overview", {"repo": REPO}),
        "files": lambda: ("saved", "files", {"repo": REPO}),
        "folders": lambda: ("saved", "folders", {"repo": REPO}),
        "files_under": lambda: ("saved", "files_under", {"repo": REPO, "folder": pkg()}),
        "path_owner": lambda: ("saved", "path_owner", {"repo": REPO, "path": pkg()}),
        "symbols": lambda: ("saved", "symbols", {"name": f"mod{rng.randrange(n_mod)}"}),
        "deps_down": lambda: ("saved", "deps_down", {"xid": mod(), "depth": 4}),
        "deps_up": lambda: ("saved", "deps_up", {"xid": mod(), "depth": 4}),
        "lineage_up": lambda: ("saved", "lineage_up", {"xid": col(), "depth": 6}),
        "lineage_down": lambda: ("saved", "lineage_down", {"xid": col(), "depth": 6}),
        "hotspots": lambda: ("saved", "hotspots", {"repo": REPO}),
        "coupling": lambda: ("saved", "coupling", {"repo": REPO}),
        "node_files": lambda: ("saved", "node_files",
                               {"xid": f"sql.table:{WH}:db.s.t{rng.randrange(n_tab)}"}),
        "graph_as_of": lambda: ("saved", "graph_as_of", {"repo": REPO, "t": rng.choice(at), "first": 50,
                                                         "offset": 0}),
        "report_edges": lambda: ("saved", "report_edges", {"repo": REPO}),
        "B commit_time": lambda: ("built", gq.commit_time(REPO)),
        "B traverse deps down": lambda: ("built", gq.traverse(onto, mod(), forward=gq.DEPENDENCY_EDGES,
                                                              depth=3, at_us=rng.choice(at))),
        "B traverse lineage up": lambda: ("built", gq.traverse(onto, col(), forward=lineage_fw,
                                                               backward=lineage_bw, depth=5)),
        "B counts_by_type as-of": lambda: ("built", gq.counts_by_type(REPO, at_us=rng.choice(at))),
        "B nodes_of_repo as-of": lambda: ("built", gq.nodes_of_repo(REPO, at_us=rng.choice(at), first=50,
                                                                    offset=rng.randrange(0, 1000))),
        "B nodes_changed_between": lambda: ("built", gq.nodes_changed_between(REPO, at[0], at[1])),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = ~111k nodes")
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    with tempfile.TemporaryDirectory(prefix="freshpoc-bench-api-") as tmp, private_dgraph(Path(tmp)) as ports:
        conn = "freshpoc_bench_api_dgraph"
        os.environ[f"AIRFLOW_CONN_{conn.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": ports["dgraph_grpc"],
             "extra": {"timeout": 300}})
        with DgraphHook(conn) as hook:
            writer = GraphWriter(hook, onto)
            writer.ensure_schema()
            for variant, when in enumerate(TIMES):
                delta = generate(args.scale, random.Random(8), variant)
                t0 = time.perf_counter()
                result = writer.apply(delta, committed_at=when)
                print(f"commit {variant + 1}: {len(delta.nodes)} nodes, {len(delta.edges)} edges written "
                      f"in {time.perf_counter() - t0:.1f} s {result.counts}", flush=True)
            store = GraphStore(hook)
            rng = random.Random(8)
            table = cases(rng, args.scale, onto)
            missing = sorted(set(store.queries) - set(table))
            if missing:
                print(f"note: no benchmark case for {', '.join(missing)}")

            def run(case: tuple[Any, ...]) -> None:
                if case[0] == "saved":
                    store.run(case[1], **case[2])
                else:
                    store.run_builder(case[1])

            results = {}
            for name, make in table.items():
                run(make())  # warm caches once, as a long-running API server has them
                times = []
                for _ in range(args.repeat):
                    case = make()
                    t = time.perf_counter()
                    run(case)
                    times.append((time.perf_counter() - t) * 1000)
                times.sort()
                results[name] = (statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)])
                print(f"  {name}: p50 {results[name][0]:.1f} ms, p95 {results[name][1]:.1f} ms", flush=True)
        os.environ.pop(f"AIRFLOW_CONN_{conn.upper()}", None)
    base = results["node"][1] or 1e-9
    print(f"\n{'query (B = builder)':26} {'p50 ms':>8} {'p95 ms':>8} {'p95 / node lookup':>18}"
          "  goal p95 < 100 ms")
    for name, (p50, p95) in results.items():
        print(f"{name:26} {p50:8.1f} {p95:8.1f} {p95 / base:18.1f}  {'ok' if p95 < 100 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
