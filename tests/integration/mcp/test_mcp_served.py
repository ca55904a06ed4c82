"""The MCP server as Airflow's api-server serves it (``/freshpoc/mcp``), asked with the SDK's own
client, against the stdio server over the same history's ``freshpoc report`` output.

The scripted history of :mod:`tests.unit.mcp.graphs` (jaffle_shop in three commits + py_inventory,
its warehouse database renamed per run so no other repository shares its tables) is reported
locally with ``freshpoc report``, and written into the stack's Dgraph commit by commit the way
``freshpoc report`` mines and analyses it (default mining options), under the report's repo id.
Then: the tools are listed; each is called over HTTP with an admin token and its answer checked
exactly; the stdio ``freshpoc mcp --graph`` process answers the shared questions identically;
no token is 401 and the viewer is 403, as for every other route of the query API. What the test
wrote is removed from Dgraph afterwards (the repository's nodes, state and aggregates, and the
renamed warehouse's tables and columns).
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.unit.mcp.graphs import ROOT, Example, ask_all, over_http, questions, report

TOOLS = ["search", "node", "dependencies", "lineage", "impact", "hotspots", "owners", "graph_diff",
         "run_saved_query"]


def write_like_report(writer: Any, ex: Example, work: Path) -> None:
    """Each commit mined (default options, as ``freshpoc report``) and analysed, merged, applied."""
    from freshpoc_tasks.analysis.stage import analyse_commit
    from freshpoc_tasks.contracts.base import read_jsonl
    from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
    from freshpoc_tasks.contracts.mining import MINING_RECORDS, RepoSnapshot
    from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
    from freshpoc_tasks.mining.access import open_repository
    from freshpoc_tasks.mining.pipeline import mine_repository

    for n, sha in enumerate(ex.shas):
        out = work / f"c{n}"
        mined = mine_repository(str(ex.path), out / "mine", cache_dir=work / "mirrors", ref=sha, fetch=False)
        assert mined.repo_id == ex.repo
        records = list(read_jsonl(mined.artifact, MINING_RECORDS))
        snapshot = next(r for r in records if isinstance(r, RepoSnapshot))
        repo = open_repository(str(ex.path), work / "mirrors", fetch=False)
        (out / "analyse").mkdir(parents=True, exist_ok=True)
        analysed = analyse_commit(repo, sha, out / "analyse", repo_id=ex.repo)
        delta = merge_deltas(mining_delta(records, ex.repo, sha),
                             GraphDelta.from_records(read_jsonl(analysed.artifact, GRAPH_RECORDS)))
        writer.apply(delta, committed_at=snapshot.committed_at)


def forget_written(hook: Any, ex: Example) -> None:
    """The repository's nodes, state and aggregates, and the run's own warehouse nodes."""
    import json

    from freshpoc_tasks.graph.records import state_xid

    hook.upsert(query="query q($r: string, $s: string) { n as var(func: eq(repo, $r)) "
                      "s as var(func: eq(xid, $s)) a as var(func: eq(fp_repo, $r)) }",
                mutations=[{"del_json": [{"uid": "uid(n)"}, {"uid": "uid(s)"}, {"uid": "uid(a)"}]}],
                variables={"$r": ex.repo, "$s": state_xid(ex.repo)})
    with open(ex.out / "graph" / "nodes.jsonl", encoding="utf-8") as fh:
        shared = [x for line in fh if f":default:{ex.db}." in (x := json.loads(line)["xid"])]
    forget_xids(hook, shared)


def forget_xids(hook: Any, xids: list[str]) -> None:
    """Delete nodes by xid, 50 per upsert (one variable each: DQL variables are scalars)."""
    for start in range(0, len(xids), 50):
        chunk = xids[start:start + 50]
        decl = ", ".join(f"$x{i}: string" for i in range(len(chunk)))
        blocks = " ".join(f"w{i} as var(func: eq(xid, $x{i}))" for i in range(len(chunk)))
        hook.upsert(query=f"query q({decl}) {{ {blocks} }}",
                    mutations=[{"del_json": [{"uid": f"uid(w{i})"} for i in range(len(chunk))]}],
                    variables={f"$x{i}": x for i, x in enumerate(chunk)})


@pytest.fixture(scope="module")
def shop(stack, tmp_path_factory) -> Any:
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    base = tmp_path_factory.mktemp("mcp-served")
    ex = report(base, db=f"mcp_{uuid.uuid4().hex[:8]}")
    with DgraphHook() as hook:
        try:
            writer = GraphWriter(hook)
            writer.ensure_schema()
            write_like_report(writer, ex, base / "work")
            yield ex
        finally:
            forget_written(hook, ex)


def over_stdio(ex: Example, fn: Any) -> Any:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, cwd=str(ROOT),
                                   args=["-m", "freshpoc_tasks.cli.main", "mcp", "--graph", str(ex.out)],
                                   env={"PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/root")})

    async def go() -> Any:
        async with Client(params) as client:
            return await fn(client)
    return asyncio.run(go())


@pytest.fixture(scope="module")
def url(stack) -> str:
    return f"{stack.cfg.airflow_url}/freshpoc/mcp"


def _call(name: str, /, **args: Any) -> Any:
    async def one(client: Any) -> Any:
        r = await client.call_tool(name, args)
        return ("error", r.content[0].text) if r.is_error else r.structured_content
    return one


def test_the_api_server_lists_the_tools_and_answers_each_exactly(shop, tokens, url):
    ex, admin = shop, tokens["admin"]
    def ask(tool: str, /, **args: Any) -> Any:
        return over_http(url, admin, _call(tool, **args))

    assert [t.name for t in over_http(url, admin, lambda c: c.list_tools()).tools] == TOOLS

    col = ex.x("sql.column", f"{ex.db}.main.customers.lifetime_value")
    amount = [ex.x("sql.column", f"{ex.db}.{t}.amount") for t in ("main.orders", "main.stg_payments",
                                                                  "raw.payments")]
    lineage = ask("lineage", xid=col, depth=5)
    assert [(n["xid"], n["depth"]) for n in lineage["nodes"]] == list(zip(amount, [1, 2, 3], strict=True))
    assert lineage["edges"] == [{"type": "derives_from", "src": s, "dst": d}
                                for s, d in zip([col, *amount[:2]], amount, strict=True)]

    customers = ex.x("dbt.model", "jaffle_shop.customers")
    node = ask("node", xid=customers)
    assert (node["type"], node["files"], node["repo"], node["valid_to"]) == (
        "dbt.model", ["models/marts/customers.sql"], ex.repo, None)
    deps = ask("dependencies", xid=customers, depth=2)
    assert [(n["name"], n["depth"]) for n in deps["nodes"]] == [
        ("orders", 1), ("stg_customers", 1), ("int_order_payments", 2), ("stg_orders", 2),
        ("raw.customers", 2)]

    by_file = ask("impact", repo=ex.repo, changed=["models/staging/stg_orders.sql"], limit=3)
    assert [(a["name"], a["owners"]) for a in by_file["affected"]] == [
        ("customers", ["bob@example.com"]), ("orders", ["ann@example.com"]),
        ("orders_snapshot", ["ann@example.com"])]
    assert by_file["total_affected"] == 7
    c2 = ask("impact", repo=ex.repo, commit=ex.shas[1][:8])
    assert c2["impact_edges"] == [["customers (dbt.model)", "customers (sql.table)"]]

    diff = ask("graph_diff", repo=ex.repo, from_commit=ex.shas[0][:8], to_commit=ex.shas[2][:8])
    assert diff["counts"] == {"added": 4, "removed": 3}

    hot = ask("hotspots", repo=ex.repo, limit=2)
    assert [(h["rank"], h["path"], h["revisions"], h["authors"]) for h in hot["items"]] == [
        (1, "models/marts/orders.sql", 2, 2), (2, "models/staging/sources.yml", 1, 1)]

    owners = ask("owners", repo=ex.repo, path="models/marts")
    assert owners["owner"]["path"] == "models/marts" and owners["owner"]["main_author"] == "ann@example.com"
    assert [(f["path"], f["main_author"]) for f in owners["files"]] == [
        ("models/marts/customers.sql", "bob@example.com"), ("models/marts/orders.sql", "ann@example.com"),
        ("models/marts/schema.yml", "ann@example.com")]

    catalogue = ask("run_saved_query")
    assert "files" in {q["name"] for q in catalogue["queries"]}
    owner = ask("run_saved_query", name="path_owner", params={"repo": ex.repo, "path": "models/marts"})
    assert [(r["path"], r["main_author"]) for r in owner["blocks"]["self"]] == [
        ("models/marts", "ann@example.com")]
    assert (owner["total_rows"], owner["more"]) == (1, None)

    found = ask("search", query="customer lifetime value", limit=5)
    if isinstance(found, tuple):  # Weaviate's collection may be empty on a fresh stack
        assert "search" in found[1].lower() or "weaviate" in found[1].lower(), found
    else:
        assert all(h["xid"] and h["type"] and h["repo"] for h in found["items"])

    async def resources(client: Any) -> Any:
        repos = await client.read_resource("freshpoc://repositories")
        rep = await client.read_resource(f"freshpoc://reports/repository/{ex.repo}")
        return repos.contents[0].text, rep.contents[0].text
    repos, rep = over_http(url, admin, resources)
    assert f'"{ex.repo}"' in repos
    assert rep.startswith(f"# Repository report: {ex.repo}")


def test_stdio_on_the_report_answers_like_the_api_server(shop, tokens, url):
    asked = questions(shop)
    served = over_http(url, tokens["admin"], lambda c: ask_all(c, asked))
    local = over_stdio(shop, lambda c: ask_all(c, asked))
    for (name, args), a, b in zip(asked, served, local, strict=True):
        assert a == b, (name, args)
    assert not any(isinstance(p, tuple) for pages in served for p in pages), served
    assert sum(len(pages) > 1 for pages in served) >= 1  # a cursor was followed on both


def test_no_token_is_401_and_the_viewer_is_403(tokens, url):
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    r = httpx.post(url, json=body, headers=accept, timeout=30)
    assert (r.status_code, r.headers["content-type"]) == (401, "application/problem+json")
    viewer = {**accept, "Authorization": f"Bearer {tokens['viewer']}"}
    r = httpx.post(url, json=body, headers=viewer, timeout=30)
    assert (r.status_code, r.headers["content-type"]) == (403, "application/problem+json")
    assert "freshpoc_dgraph" in r.json()["detail"]
    for token, status in ((None, 401), (tokens["viewer"], 403), ("not-a-jwt", 403)):
        statuses: list[int] = []
        with pytest.raises(Exception, match="unhandled errors"):
            over_http(url, token, lambda c: c.list_tools(), statuses)
        assert statuses and set(statuses) == {status}, token
