"""Latency of every query API route on a generated graph written by the real graph writer, each
next to the raw DQL that returns the same answer, measured in the same run; plus a load run.

A synthetic repository (modules, functions, files, folders, warehouse tables and columns with
lineage chains, dbt models, commits, coupling) is written with ``GraphWriter`` at three commits
(the 2nd drops ~5 % of the modules, the 3rd brings them back changed): ``--scale 1`` is ~111k
nodes, ``--scale 10`` ~1.1M. Then every route is called ``--repeat`` times with varied parameters:

- **raw DQL**: exactly the queries the route sends for that call (recorded once, then replayed
  through the same gRPC client), i.e. the floor the route could reach;
- **app**: the route in-process (FastAPI app, no HTTP, auth replaced) over the same Dgraph;
- **HTTP** (``--target stack`` only): the route served by Airflow's api-server, over HTTP with a
  token from ``POST /auth/token``, as users call it. The api-server reads the stack's Dgraph, so
  with ``--target stack`` the graph is written there (repository ``bench/synthetic``, removed at
  the end) — run it only once ``/work/helpers/STACK_READY``-style stacks are up.

It prints p50/p95 per route and mode, each route's p95 minus its raw DQL p95 (goal: <= 15 ms),
the goal p95 < 50 ms (scale <= 1) or < 200 ms (larger), then a load run: ``--clients`` threads
mixing the routes for ``--load`` seconds (requests/s, p50/p95, errors; goal p95 < 250 ms).

    .venv/bin/python benchmarks/query_api.py --scale 1 [--repeat 40] [--target private|stack]
                                             [--load 60] [--clients 16]

``--target private`` (default) starts the Dgraph binary ``freshpoc stack up`` built in its own
state folder and ports, so the shared stack is never touched.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node  # noqa: E402
from freshpoc_tasks.graph.ontology import load_graph_ontology  # noqa: E402

REPO = "bench/synthetic"
WH = "wh"  # warehouse scope: tables and columns are shared, as the SQL/dbt analyzers write them
TIMES = [datetime(2024, m, 1, tzinfo=UTC) for m in (1, 2, 3)]
COMMITS = [f"{0xC0FFEE00 + i:040x}" for i in range(3)]  # hex, as the API's commit parameters want


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
    # Every value is drawn whether or not its module is dropped, so the commits differ only in
    # what they mean to change (the dropped modules, then the changed docstrings), not in every
    # value drawn after the first dropped one.
    mods: list[str | None] = []
    all_files: list[str] = []
    for i in range(n_mod):
        path = f"pkg{i // 100}/mod{i}.py"
        file_props = dict(size=rng.randint(100, 20000), lines_code=rng.randint(5, 800),
                          revisions=rng.randint(1, 200), churn=rng.randint(1, 5000),
                          authors=rng.randint(1, 9), bus_factor=rng.randint(1, 4))
        complexity = [rng.randint(1, 30) for _ in range(2)]
        all_files.append(f"file:{REPO}:{path}")
        if i in dropped:
            mods.append(None)
            continue
        f = node("file", path, path=path, language="python", main_author=f"dev{i % 50}@example.com",
                 main_author_share=0.5, **file_props)
        edge("contains", f"folder:{REPO}:pkg{i // 100}", f)
        doc = f"v{variant}" if variant == 2 and i % 20 == 0 else ""
        m = node("py.module", f"pkg{i // 100}.mod{i}", path=path, docstring=doc)
        mods.append(m)
        edge("defined_in", m, f)
        for k in range(2):
            fn = node("py.function", f"pkg{i // 100}.mod{i}.f{k}", path=path, complexity=complexity[k])
            edge("defined_in", fn, f)
            edge("contains", m, fn)
    for i, m in enumerate(mods):
        for j in rng.sample(range(max(0, i - 500), i), min(3, i)):
            if m is not None and mods[j] is not None:
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
    for s in range(1, n_commit + 1):
        cx = node("commit", f"{s:040x}", sha=f"{s:040x}", message=f"change {s}")
        person = node("person", f"dev{s % 50}@example.com", scope="people", email=f"dev{s % 50}@example.com")
        edge("authored_by", cx, person)
        for f in rng.sample(all_files, 5):
            if f in nodes:
                edge("modifies", cx, f, added=3, removed=1)
    for _ in range(int(2000 * scale)):
        a, b = rng.sample(all_files, 2)
        shared, degree = rng.randint(1, 30), float(rng.randint(30, 100))
        if a in nodes and b in nodes:
            edge("coupled_with", a, b, shared_revisions=shared, degree=degree)
    uniq = {(e.type, e.src, e.dst): e for e in edges}
    return GraphDelta(repo_id=REPO, commit=COMMITS[variant], ontology_version=load_graph_ontology().version,
                      nodes=list(nodes.values()), edges=list(uniq.values()))


class Picks:
    """Random ids that exist in the synthetic graph at every commit, in the shapes ``generate``
    gives them (one place for both benchmarks that sample it: this one and mcp_latency.py)."""

    def __init__(self, rng: random.Random, scale: float) -> None:
        self.rng, self.n_mod, self.n_tab = rng, int(20000 * scale), int(5000 * scale)

    def mod(self) -> str:  # a module present at every commit (the 2nd drops every 20th)
        i = self.rng.randrange(1, self.n_mod // 20) * 20 + self.rng.randrange(1, 20)
        return f"py.module:{REPO}:pkg{i // 100}.mod{i}"

    def pkg(self) -> str:
        return f"pkg{self.rng.randrange(self.n_mod // 100)}"

    def col(self) -> str:
        return f"sql.column:{WH}:db.s.t{self.rng.randrange(self.n_tab)}.c{self.rng.randrange(4)}"


def routes(rng: random.Random, scale: float, commits: int = 3,
           cursor_of: Callable[[str, dict[str, Any]], str] | None = None,
           ) -> dict[str, Callable[[], tuple[str, dict[str, Any]]]]:
    """Route name -> a call with varied parameters (path, query parameters).

    With ``cursor_of`` (path, params -> the page's ``next_after``, asked of the app once per
    page and kept), the keyed lists are also read by cursor, from pages at several depths, as
    a user paging on does: the first page alone hid that a key-range cursor cost ~10x a page."""
    shas = COMMITS[:commits]
    pick = Picks(rng, scale)
    n_mod, mod, pkg, col = pick.n_mod, pick.mod, pick.pkg, pick.col
    cursors: dict[tuple[str, str], str] = {}

    def after(path: str, params: dict[str, Any]) -> str:
        key = (path, json.dumps(params, sort_keys=True))
        if key not in cursors:
            cursors[key] = cursor_of(path, params) if cursor_of else ""
        return cursors[key]

    def depth() -> int:
        return rng.choice((0, 450, 1950))  # the cursor of page 1, 10 or 40

    r = {"repo": REPO}
    paged = {
        "files (next page)": lambda: ("/files", {**r, "limit": 50, "after": after(
            "/files", {**r, "limit": 50, "offset": depth()})}),
        "as-of (next page)": lambda: ("/graph/as-of", {**r, "commit": shas[-1], "limit": 50, "after": after(
            "/graph/as-of", {**r, "commit": shas[-1], "limit": 50, "offset": depth()})}),
        "diff (next page)": lambda: ("/graph/diff", {**r, "from_commit": shas[0], "to_commit": shas[-1],
                                                     "limit": 50, "after": after("/graph/diff", {
                                                         **r, "from_commit": shas[0], "to_commit": shas[-1],
                                                         "limit": 50, "offset": depth()})}),
    } if cursor_of else {}
    return {
        "repositories": lambda: ("/repositories", {}),
        "overview": lambda: ("/repositories/overview", r),
        "files (first page)": lambda: ("/files", {**r, "limit": 50}),
        "files (prefix)": lambda: ("/files", {**r, "path_prefix": pkg() + "/", "limit": 50}),
        "files (language)": lambda: ("/files", {**r, "language": "Python", "limit": 50,
                                                "path_prefix": pkg() + "/"}),
        "hotspots": lambda: ("/hotspots", {**r, "limit": 50, "offset": rng.choice((0, 50, 500, 5000))}),
        "coupling": lambda: ("/coupling", {**r, "limit": 50, "offset": rng.choice((0, 100, 1000))}),
        "coupling (prefix)": lambda: ("/coupling", {**r, "path_prefix": pkg() + "/"}),
        "owners (folder)": lambda: ("/owners", {**r, "path": pkg(), "limit": 50}),
        "symbols": lambda: ("/symbols", {**r, "name": f"mod{rng.randrange(n_mod)}"}),
        "node": lambda: ("/nodes", {"xid": mod()}),
        "dependencies": lambda: ("/dependencies", {"xid": mod(), "depth": 3}),
        "lineage": lambda: ("/lineage", {"xid": col(), "direction": "up", "depth": 5}),
        "as-of": lambda: ("/graph/as-of", {**r, "commit": rng.choice(shas), "limit": 50}),
        "diff": lambda: ("/graph/diff", {**r, "from_commit": shas[0], "to_commit": shas[-1], "limit": 50}),
        "report": lambda: ("/reports/repository", r),
    } | paged


class Recording:
    """A runner that records the queries a route sends (to replay them as the raw DQL)."""

    def __init__(self, hook: Any) -> None:
        self.hook, self.calls, self.on = hook, [], False

    def query(self, dql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        if self.on:
            self.calls.append((dql, variables))
        return self.hook.query(dql, variables)


def pct(times: list[float], q: float) -> float:
    times = sorted(times)
    return times[max(0, round(q * len(times)) - 1)]


@contextmanager
def dgraph(target: str, keep: Path | None = None) -> Iterator[str]:
    """A Dgraph connection id: a private server (in ``keep`` when given, so a rerun reuses the
    written graph), or the stack's ``freshpoc_dgraph``."""
    if target == "stack":
        from freshpoc_tasks.stack.client import use_local_stack

        use_local_stack()
        yield "freshpoc_dgraph"
        return
    from tests.integration.api.graphdata import private_dgraph

    with tempfile.TemporaryDirectory(prefix="freshpoc-bench-api-") as tmp, \
            private_dgraph(keep or Path(tmp)) as ports:
        conn = "freshpoc_bench_api_dgraph"
        os.environ[f"AIRFLOW_CONN_{conn.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": ports["dgraph_grpc"],
             "extra": {"timeout": 600}})
        try:
            yield conn
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{conn.upper()}", None)


def forget(hook: Any, scale: float) -> None:
    """Remove the benchmark's repository from a shared Dgraph (graph.writer.forget_repository),
    and the warehouse tables, columns and people it generated (shared nodes, which forgetting a
    repository keeps), by their xids."""
    from freshpoc_tasks.graph.writer import forget_repository

    forget_repository(hook, REPO)
    n_tab = int(5000 * scale)
    xids = [f"person:people:dev{i}@example.com" for i in range(50)]
    for t in range(n_tab):
        xids.append(f"sql.table:{WH}:db.s.t{t}")
        xids += [f"sql.column:{WH}:db.s.t{t}.c{c}" for c in range(4)]
    for start in range(0, len(xids), 250):
        chunk = xids[start:start + 250]  # each id a variable, as the writer's own lookups
        decl = ", ".join(f"$x{i}: string" for i in range(len(chunk)))
        values = ", ".join(f"$x{i}" for i in range(len(chunk)))
        hook.upsert(query=f"query q({decl}) {{ n as var(func: eq(xid, [{values}])) }}",
                    mutations=[{"del_json": [{"uid": "uid(n)"}]}],
                    variables={f"$x{i}": x for i, x in enumerate(chunk)})


def http_client() -> Any:
    """An httpx client on the running api-server's /freshpoc, with an admin token."""
    import httpx

    from freshpoc_tasks.stack.config import StackConfig

    base = StackConfig.from_env().airflow_url
    user = {"username": os.environ.get("FRESHPOC_AIRFLOW_USER", "admin"),
            "password": os.environ.get("FRESHPOC_AIRFLOW_PASSWORD", "admin")}
    token = httpx.post(f"{base}/auth/token", json=user)
    token.raise_for_status()
    return httpx.Client(base_url=f"{base}/freshpoc", timeout=60,
                        headers={"Authorization": f"Bearer {token.json()['access_token']}"})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = ~111k nodes, 10 = ~1.1M")
    ap.add_argument("--repeat", type=int, default=40)
    ap.add_argument("--target", choices=["private", "stack"], default="private",
                    help="stack: write into the stack's Dgraph, measure through its api-server too")
    ap.add_argument("--load", type=float, default=60.0, help="seconds of the load run (0: none)")
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--commits", type=int, default=3, choices=[1, 2, 3],
                    help="commits written (as-of and diff have history to compare from 2)")
    ap.add_argument("--keep", type=Path, help="private Dgraph state folder to keep (reruns skip the writes)")
    args = ap.parse_args()
    import logging

    logging.getLogger("httpx").setLevel(logging.WARNING)  # one log line per request otherwise
    from fastapi.testclient import TestClient

    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.api.store import GraphStore
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    results: dict[str, dict[str, tuple[float, float]]] = {}
    with dgraph(args.target, args.keep) as conn, DgraphHook(conn) as hook:
        writer = GraphWriter(hook, onto)
        writer.ensure_schema()
        try:
            written = len(GraphStore(hook).timeline(REPO)) if args.keep else 0
            for variant, when in list(enumerate(TIMES))[written:args.commits]:
                delta = generate(args.scale, random.Random(8), variant)
                t0 = time.perf_counter()
                result = writer.apply(delta, committed_at=when)
                timings = ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
                print(f"commit {variant + 1}: {len(delta.nodes)} nodes, {len(delta.edges)} edges written in "
                      f"{time.perf_counter() - t0:.1f} s ({timings}) {result.counts}", flush=True)
            rec = Recording(hook)
            app = create_app(runner_factory=lambda: rec, auth_dependency=lambda: None,
                             mermaid_bundle=lambda: None)
            http = http_client() if args.target == "stack" else None
            rng = random.Random(8)
            opened: dict[str, Any] = {}

            def cursor_of(path: str, params: dict[str, Any]) -> str:
                body = opened["client"].get(path, params=params).json()
                return body.get("nodes", body.get("changes", body))["next_after"]

            table = routes(rng, args.scale, min(args.commits, max(written, args.commits)), cursor_of)
            with TestClient(app, raise_server_exceptions=True) as client:
                opened["client"] = client
                for name, make in table.items():
                    times: dict[str, list[float]] = {"raw": [], "app": [], "http": []}
                    for n in range(args.repeat + 1):  # the first call warms caches, as a running server has
                        path, params = make()
                        rec.calls, rec.on = [], True
                        t = time.perf_counter()
                        got = client.get(path, params=params)
                        app_ms = (time.perf_counter() - t) * 1000
                        rec.on = False
                        if got.status_code != 200:
                            raise SystemExit(f"{name}: {path} {params} -> {got.status_code} {got.text[:300]}")
                        t = time.perf_counter()
                        for dql, variables in rec.calls:
                            hook.query(dql, variables)
                        raw_ms = (time.perf_counter() - t) * 1000
                        http_ms = None
                        if http is not None:
                            t = time.perf_counter()
                            answer = http.get(path, params=params)
                            http_ms = (time.perf_counter() - t) * 1000
                            if answer.status_code != 200 or answer.text != got.text:
                                raise SystemExit(f"{name}: api-server answered {answer.status_code}, "
                                                 "not what the in-process app did")
                        if n:
                            times["raw"].append(raw_ms)
                            times["app"].append(app_ms)
                            if http_ms is not None:
                                times["http"].append(http_ms)
                    results[name] = {k: (statistics.median(v), pct(v, 0.95)) for k, v in times.items() if v}
                    shown = "  ".join(f"{k} p50 {a:.1f} p95 {b:.1f}" for k, (a, b) in results[name].items())
                    print(f"  {name}: {shown} ms ({len(rec.calls)} queries)", flush=True)
                if args.load > 0:
                    load_run(table, http or client, args.clients, args.load,
                             "HTTP" if http else "in-process app")
        finally:
            if args.target == "stack":
                forget(hook, args.scale)
    goal = 50 if args.scale <= 1.0 else 200
    modes = [m for m in ("raw", "app", "http") if any(m in r for r in results.values())]
    head = "".join(f" {m + ' p50':>10} {m + ' p95':>10}" for m in modes)
    print(f"\n{'route':22}{head} {'p95 - raw':>10}  goal p95 < {goal} ms, <= raw + 15 ms")
    for name, r in results.items():
        cols = "".join(f" {r[m][0]:10.1f} {r[m][1]:10.1f}" for m in modes)
        worst = r.get("http", r["app"])[1]
        over = worst - r["raw"][1]
        ok = "ok" if worst < goal and over <= 15 else "MISSED"
        print(f"{name:22}{cols} {over:10.1f}  {ok}")
    return 0


def load_run(table: dict[str, Callable[[], tuple[str, dict[str, Any]]]], client: Any, clients: int,
             seconds: float, how: str) -> None:
    """``clients`` threads calling a random route each, back to back, for ``seconds``."""
    lock = threading.Lock()
    times: list[float] = []
    errors: list[str] = []
    stop = time.perf_counter() + seconds
    names = list(table)

    def work(seed: int) -> None:
        rng = random.Random(seed)
        while time.perf_counter() < stop:
            with lock:  # the route factories share one RNG
                path, params = table[rng.choice(names)]()
            t = time.perf_counter()
            try:
                r = client.get(path, params=params)
                ok = r.status_code == 200
                err = "" if ok else f"{path} {r.status_code}"
            except Exception as exc:  # a load run counts every failure
                ok, err = False, f"{path} {type(exc).__name__}"
            ms = (time.perf_counter() - t) * 1000
            with lock:
                times.append(ms)
                if not ok:
                    errors.append(err)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    t0 = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    print(f"\nload ({how}): {clients} clients, {wall:.0f} s: {len(times)} requests, "
          f"{len(times) / wall:.1f} requests/s, p50 {statistics.median(times):.1f} ms, "
          f"p95 {pct(times, 0.95):.1f} ms, errors {len(errors)}  goal p95 < 250 ms, no errors"
          + (f" (first: {errors[0]})" if errors else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
