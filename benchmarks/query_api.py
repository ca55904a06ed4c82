"""Latency of every saved query of the query API on a generated graph of >= 100k nodes.

Starts a private Dgraph (the project's way, in a temporary state folder), loads
``include/queries/read_model.schema`` and a synthetic repository (modules, functions, files,
folders, tables, columns with lineage chains, dbt models, commits), then runs each saved query
``--repeat`` times with varied parameters through the API's own ``GraphStore`` and prints p50 and
p95 in milliseconds, plus each p95 as a ratio of the node-by-id lookup measured in the same run.
Goal: p95 < 100 ms on a 2-core machine. Nothing is asserted.

    python benchmarks/query_api.py [--scale 1.0] [--repeat 40]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.api.store import HIGH, GraphStore, prefix_range  # noqa: E402
from tests.integration.api.graphdata import Loader, private_dgraph, wait_for_index  # noqa: E402

REPO = "bench/synthetic"


class PydgraphRunner:
    """What ``DgraphHook.query`` does (read-only txn, variables as strings), without a connection."""

    def __init__(self, client: Any) -> None:
        self.client = client

    def query(self, dql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        import json

        txn = self.client.txn(read_only=True)
        try:
            resp = txn.query(dql, variables={k: str(v) for k, v in (variables or {}).items()})
        finally:
            txn.discard()
        return json.loads(resp.json)


Edge = tuple[str, str, str, dict]


def generate(scale: float, rng: random.Random) -> tuple[list[dict[str, Any]], list[Edge]]:
    n_mod = int(20000 * scale)
    n_tab = int(5000 * scale)
    n_model = int(5000 * scale)
    n_commit = int(1000 * scale)
    nodes: list[dict[str, Any]] = []
    edges: list[tuple[str, str, str, dict]] = []

    def node(t: str, key: str, **props: Any) -> str:
        xid = f"{t}:{REPO}:{key}"
        vf = props.pop("valid_from", rng.randint(1, n_commit))
        extra = {"valid_to": vf + rng.randint(1, 50)} if rng.random() < 0.05 else {}
        nodes.append({"xid": xid, "dgraph.type": t, "key": key, "name": key.rsplit(".", 1)[-1],
                      "repo": [REPO], "valid_from": vf, **extra, **props})
        return xid

    node("repository", REPO, valid_from=1)
    for i in range(n_mod // 100):
        node("folder", f"pkg{i}", path=f"pkg{i}", main_author=f"dev{i % 50}@example.com",
             main_author_share=0.6, bus_factor=2, authors=5, revisions=rng.randint(1, 500))
    mods = []
    for i in range(n_mod):
        path = f"pkg{i // 100}/mod{i}.py"
        f = node("file", path, path=path, language="Python", size=rng.randint(100, 20000),
                 revisions=rng.randint(1, 200), churn=rng.randint(1, 5000), authors=rng.randint(1, 9),
                 main_author=f"dev{i % 50}@example.com", main_author_share=0.5, bus_factor=rng.randint(1, 4))
        m = node("py.module", f"pkg{i // 100}.mod{i}")
        mods.append(m)
        edges.append(("defined_in", m, f, {}))
        for k in range(2):
            fn = node("py.function", f"pkg{i // 100}.mod{i}.f{k}", complexity=rng.randint(1, 30))
            edges += [("defined_in", fn, f, {}), ("contains", m, fn, {})]
    for i, m in enumerate(mods):
        for j in rng.sample(range(max(0, i - 500), i), min(3, i)):
            edges.append(("imports", m, mods[j], {}))
    cols = []
    for t in range(n_tab):
        tx = node("sql.table", f"db.s.t{t}")
        for c in range(4):
            cx = node("sql.column", f"db.s.t{t}.c{c}")
            cols.append(cx)
            edges.append(("has_column", tx, cx, {}))
            if t % 50:
                edges.append(("derives_from", cx, f"sql.column:{REPO}:db.s.t{t - 1}.c{c}", {}))
    models = []
    for i in range(n_model):
        mx = node("dbt.model", f"proj.m{i}")
        models.append(mx)
        edges.append(("materializes_as", mx, f"sql.table:{REPO}:db.s.t{i % n_tab}", {}))
        if i % 40:
            edges.append(("depends_on", mx, models[i - 1], {}))
    files = [n["xid"] for n in nodes if n["dgraph.type"] == "file"]
    for s in range(1, n_commit + 1):
        cx = node("commit", f"{s:040x}", sha=f"{s:040x}", seq=s, valid_from=s)
        edges.append(("authored_by", cx, f"person:{REPO}:dev{s % 50}", {}))
        for f in rng.sample(files, 5):
            edges.append(("modifies", cx, f, {"added": 3, "removed": 1}))
    for d in range(50):
        node("person", f"dev{d}", email=f"dev{d}@example.com", valid_from=1)
    for _ in range(int(2000 * scale)):
        a, b = rng.sample(files, 2)
        edges.append(("coupled_with", a, b, {"shared_revisions": 5, "degree": 55.0}))
    return nodes, edges


def cases(rng: random.Random, scale: float) -> dict[str, Any]:
    n_mod, n_tab, n_commit = int(20000 * scale), int(5000 * scale), int(1000 * scale)

    def mod() -> str:
        i = rng.randrange(n_mod)
        return f"py.module:{REPO}:pkg{i // 100}.mod{i}"

    def col() -> str:
        return f"sql.column:{REPO}:db.s.t{rng.randrange(n_tab)}.c{rng.randrange(4)}"

    def pkg() -> tuple[str, str]:
        return prefix_range(f"pkg{rng.randrange(n_mod // 100)}/")

    def sha() -> tuple[str, str]:
        return prefix_range(f"{rng.randint(1, n_commit):040x}"[:12])

    return {
        "node": lambda: {"xid": mod()},
        "repositories": lambda: {"first": 50, "offset": 0},
        "repository_overview": lambda: {"repo": REPO},
        "files": lambda: dict(zip(("path_lo", "path_hi"), pkg(), strict=True)) | {
            "repo": REPO, "lang_lo": "", "lang_hi": HIGH, "first": 50, "offset": 0},
        "symbols": lambda: {"repo": REPO, "name": f"mod{rng.randrange(n_mod)}", "first": 50, "offset": 0},
        "deps_down": lambda: {"xid": mod(), "depth": 4},
        "deps_up": lambda: {"xid": mod(), "depth": 4},
        "lineage_up": lambda: {"xid": col(), "depth": 6},
        "lineage_down": lambda: {"xid": col(), "depth": 6},
        "hotspots": lambda: {"repo": REPO, "first": 50, "offset": rng.randrange(0, 1000)},
        "coupling": lambda: dict(zip(("path_lo", "path_hi"), pkg(), strict=True)) | {"repo": REPO},
        "owners": lambda: (lambda lo, hi: {"repo": REPO, "path": lo.rstrip("/"), "path_lo": lo, "path_hi": hi,
                                            "first": 50, "offset": 0})(*pkg()),
        "node_files": lambda: {"xid": f"sql.table:{REPO}:db.s.t{rng.randrange(n_tab)}"},
        "commits": lambda: dict(zip(("sha_lo", "sha_hi"), sha(), strict=True)) | {"repo": REPO},
        "commit_at": lambda: {"repo": REPO, "seq": rng.randint(1, n_commit)},
        "graph_as_of": lambda: {"repo": REPO, "seq": rng.randint(1, n_commit), "first": 50, "offset": 0},
        "graph_diff": lambda: (lambda s: {"repo": REPO, "from_seq": s, "to_seq": s + 1})(
            rng.randint(1, n_commit)),
        "report_edges": lambda: {"repo": REPO},
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0, help="1.0 = ~111k nodes")
    ap.add_argument("--repeat", type=int, default=40)
    args = ap.parse_args()
    import pydgraph

    rng = random.Random(8)
    nodes, edges = generate(args.scale, rng)
    with tempfile.TemporaryDirectory(prefix="freshpoc-bench-api-") as tmp, private_dgraph(Path(tmp)) as ports:
        stub = pydgraph.DgraphClientStub(f"127.0.0.1:{ports['dgraph_grpc']}")
        client = pydgraph.DgraphClient(stub)
        loader = Loader(client)
        loader.schema()
        wait_for_index(client)
        t0 = time.perf_counter()
        loader.nodes(nodes)
        loader.edges(edges)
        print(f"loaded {len(nodes)} nodes, {len(edges)} edges in {time.perf_counter() - t0:.1f} s",
              flush=True)
        store = GraphStore(PydgraphRunner(client))
        table = cases(rng, args.scale)
        missing = sorted(set(store.queries) - set(table))
        if missing:
            print(f"note: no benchmark case for {', '.join(missing)}")
        results = {}
        for name, make in table.items():
            store.run(name, **make())  # warm caches once, as a long-running API server has them
            times = []
            for _ in range(args.repeat):
                params = make()
                t = time.perf_counter()
                store.run(name, **params)
                times.append((time.perf_counter() - t) * 1000)
            times.sort()
            results[name] = (statistics.median(times), times[max(0, round(0.95 * len(times)) - 1)])
            print(f"  {name}: p50 {results[name][0]:.1f} ms, p95 {results[name][1]:.1f} ms", flush=True)
        stub.close()
    base = results["node"][1] or 1e-9
    print(f"\n{'saved query':22} {'p50 ms':>8} {'p95 ms':>8} {'p95 / node lookup':>18}  goal p95 < 100 ms")
    for name, (p50, p95) in results.items():
        print(f"{name:22} {p50:8.1f} {p95:8.1f} {p95 / base:18.1f}  {'ok' if p95 < 100 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
