"""The example graph the MCP tests ask, and the questions they ask it.

A scripted git history of the jaffle_shop dbt project (three commits, as the API tests use: the
customers mart arrives in the 2nd with a touched orders model, the payment_methods seed leaves in
the 3rd; Ann, Bob, Ann) plus the py_inventory package, reported by the real ``freshpoc report``
into one output folder (c1, then c2 ``--since`` c1, then c3 ``--since`` c2), exactly as a user
would before ``freshpoc mcp --graph DIR``. The warehouse database is renamed (``profiles.yml``'s
duckdb path) so the stack's integration test writes tables and columns no other repository shares.

:data:`QUESTIONS` are tool calls whose answers the stdio server and the stack's HTTP server must
give alike; :func:`ask_all` asks them through any connected SDK client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freshpoc_tasks.testing import RepoBuilder

ROOT = Path(__file__).resolve().parents[3]
ANN, BOB = "Ann Analyst <ann@example.com>", "Bob Builder <bob@example.com>"


def _files(name: str, prefix: str = "") -> dict[str, str]:
    base = ROOT / "include" / "examples" / name
    return {prefix + p.relative_to(base).as_posix(): p.read_text() for p in sorted(base.rglob("*"))
            if p.is_file() and "target" not in p.relative_to(base).parts and p.suffix != ".pyc"}


@dataclass
class Example:
    path: Path  # the git repository
    out: Path  # the report folder (graph in out/graph)
    repo: str  # its repo id
    db: str  # the warehouse database the tables and columns live in
    shas: list[str]

    def x(self, kind: str, key: str) -> str:
        """A node id: repository-scoped kinds take the repo id, warehouse ones the default scope."""
        scope = "default" if kind.startswith("sql.") else self.repo
        return f"{kind}:{scope}:{key}"


def build_history(base: Path, db: str = "mcp_shop") -> tuple[Path, list[str]]:
    jaffle = _files("jaffle_shop")
    jaffle["profiles.yml"] = jaffle["profiles.yml"].replace("jaffle_shop.duckdb", f"{db}.duckdb")
    full = {**jaffle, **_files("py_inventory", "inventory/")}
    c1 = {p: t for p, t in full.items() if not p.startswith("models/marts/customers")}
    c2 = {**full, "models/marts/orders.sql": full["models/marts/orders.sql"] + "\n-- reviewed\n"}
    c3 = {p: t for p, t in c2.items() if p != "seeds/payment_methods.csv"}
    repo = RepoBuilder(base / "shop")
    shas, prev = [], {}
    for n, (tree, author) in enumerate(zip([c1, c2, c3], [ANN, BOB, ANN], strict=True), 1):
        shas.append(repo.commit(f"step {n}", author=author, date=f"2024-0{n}-01T10:00:00+00:00",
                                write={p: t for p, t in tree.items() if prev.get(p) != t},
                                delete=[p for p in prev if p not in tree]))
        prev = tree
    return repo.path, shas


def report(base: Path, db: str = "mcp_shop") -> Example:
    """The history, then ``freshpoc report`` three times into ``base/report``."""
    path, shas = build_history(base, db)
    out = base / "report"
    caches = ["--mirrors", str(base / "mirrors"), "--cache", str(base / "cache")]
    runs = [["--ref", shas[0]], ["--ref", shas[1], "--since", shas[0]],
            ["--ref", shas[2], "--since", shas[1]]]
    for extra in runs:
        proc = subprocess.run([sys.executable, "-m", "freshpoc_tasks.cli.main", "report", str(path), *extra,
                               "--out", str(out), *caches], capture_output=True, text=True, timeout=300,
                              check=False, cwd=ROOT)
        assert proc.returncode == 0, proc.stderr
    state = json.loads((out / "graph" / "state.json").read_text())
    (repo,) = state["timelines"]
    return Example(path, out, repo, db, shas)


def questions(ex: Example) -> list[tuple[str, dict[str, Any]]]:
    """Tool calls both servers can answer, with what the answers must agree on."""
    customers = ex.x("dbt.model", "jaffle_shop.customers")
    orders = ex.x("dbt.model", "jaffle_shop.orders")
    ltv = ex.x("sql.column", f"{ex.db}.main.customers.lifetime_value")
    return [
        ("node", {"xid": customers}),
        ("node", {"xid": ex.x("py.module", "inventory.core")}),
        ("dependencies", {"xid": ex.x("py.module", "inventory.cli"), "depth": 2}),
        ("dependencies", {"xid": ex.x("py.module", "inventory.db"), "direction": "up", "depth": 2}),
        ("lineage", {"xid": ltv, "depth": 5}),
        ("lineage", {"xid": customers, "direction": "up", "depth": 2}),
        ("lineage", {"xid": ex.x("sql.table", f"{ex.db}.main.stg_payments"), "direction": "down"}),
        ("dependencies", {"xid": customers, "direction": "down", "depth": 2}),
        ("dependencies", {"xid": orders, "direction": "up", "depth": 3, "limit": 1}),
        ("impact", {"repo": ex.repo, "commit": ex.shas[1][:10]}),
        ("impact", {"repo": ex.repo, "commit": ex.shas[2]}),
        ("impact", {"repo": ex.repo, "changed": [orders]}),
        ("impact", {"repo": ex.repo, "changed": ["models/staging/stg_orders.sql"], "limit": 4}),
        ("hotspots", {"repo": ex.repo, "limit": 5}),
        ("graph_diff", {"repo": ex.repo, "from_commit": ex.shas[0][:8], "to_commit": ex.shas[2][:8]}),
        ("graph_diff", {"repo": ex.repo, "from_commit": ex.shas[1], "to_commit": ex.shas[2], "limit": 2}),
    ]


async def ask_all(client: Any, asked: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """Each answer (structured content), or ``("error", text)``; every page of a paged answer."""
    out = []
    for name, args in asked:
        pages, cursor = [], None
        while True:
            r = await client.call_tool(name, {**args, **({"cursor": cursor} if cursor else {})})
            if r.is_error:
                pages.append(("error", r.content[0].text))
                break
            pages.append(r.structured_content)
            cursor = r.structured_content.get("more")
            if not cursor:
                break
        out.append(pages)
    return out


def over_http(url: str, token: str | None, fn: Any, statuses: list[int] | None = None) -> Any:
    """``fn(client)`` with the SDK's client over streamable HTTP; ``statuses`` collects every HTTP
    status (the SDK reports a refused request only as a generic error)."""
    import asyncio

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def record(response: Any) -> None:
        if statuses is not None:
            statuses.append(response.status_code)

    async def go() -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        hooks = {"response": [record]}
        async with httpx2.AsyncClient(headers=headers, timeout=120, event_hooks=hooks) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            return await fn(client)
    return asyncio.run(go())
