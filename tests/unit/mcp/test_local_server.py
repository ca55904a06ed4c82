"""``freshpoc mcp --graph DIR``: the MCP tools over the output of ``freshpoc report``, no server.

The graph is a real report of a scripted history (:mod:`tests.unit.mcp.graphs`); answers are
checked exactly, through the SDK's own client — in-process for the exact answers, and over stdio
against the ``freshpoc mcp`` command, which must answer the same questions identically.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

import pytest
from mcp import Client, StdioServerParameters

from freshpoc_tasks.mcp.local import LocalBackend
from freshpoc_tasks.mcp.server import build_server
from tests.unit.mcp.graphs import ROOT, Example, ask_all, questions, report

TOOLS = ["search", "node", "dependencies", "lineage", "impact", "hotspots", "owners", "graph_diff",
         "run_saved_query"]
FEB = 1706781600000000  # 2024-02-01T10:00:00Z, the second commit, in µs


@pytest.fixture(scope="module")
def ex(tmp_path_factory) -> Example:
    return report(tmp_path_factory.mktemp("mcp-local"))


def call(ex: Example, fn: Any) -> Any:
    async def go() -> Any:
        async with Client(build_server(LocalBackend(ex.out))) as client:
            return await fn(client)
    return asyncio.run(go())


def tool(ex: Example, name: str, /, **args: Any) -> Any:
    async def one(client: Any) -> Any:
        r = await client.call_tool(name, args)
        return ("error", r.content[0].text) if r.is_error else r.structured_content
    return call(ex, one)


def test_the_tools_and_their_schemas(ex):
    listed = call(ex, lambda c: c.list_tools()).tools
    assert [t.name for t in listed] == TOOLS
    for t in listed:
        assert t.description and len(t.description) > 60, t.name
        assert t.annotations.read_only_hint is True, t.name
        for pname, prop in t.input_schema["properties"].items():
            assert prop.get("description"), (t.name, pname)
    lineage = next(t for t in listed if t.name == "lineage").input_schema["properties"]
    assert lineage["direction"]["enum"] == ["up", "down"] and lineage["depth"]["maximum"] == 10
    assert lineage["limit"]["maximum"] == 200


def test_lineage_of_customers_lifetime_value(ex):
    col = ex.x("sql.column", "mcp_shop.main.customers.lifetime_value")
    amount = [ex.x("sql.column", f"mcp_shop.{t}.amount") for t in ("main.orders", "main.stg_payments",
                                                                    "raw.payments")]
    answer = tool(ex, "lineage", xid=col, depth=5)
    assert answer["root"] == {"xid": col, "type": "sql.column", "name": "lifetime_value"}
    assert [(n["xid"], n["depth"]) for n in answer["nodes"]] == list(zip(amount, [1, 2, 3], strict=True))
    assert answer["edges"] == [{"type": "derives_from", "src": s, "dst": d}
                               for s, d in zip([col, *amount[:2]], amount, strict=True)]
    assert (answer["total_nodes"], answer["more"]) == (3, None)


def test_node_dependencies_and_impact(ex):
    customers = ex.x("dbt.model", "jaffle_shop.customers")
    assert tool(ex, "node", xid=customers) == {
        "xid": customers, "type": "dbt.model", "name": "customers", "key": "jaffle_shop.customers",
        "path": "models/marts/customers.sql", "language": None, "size": None, "repo": ex.repo,
        "valid_from": FEB, "valid_to": None, "files": ["models/marts/customers.sql"]}
    deps = tool(ex, "dependencies", xid=customers, depth=2)
    assert [(n["name"], n["depth"]) for n in deps["nodes"]] == [
        ("orders", 1), ("stg_customers", 1), ("int_order_payments", 2), ("stg_orders", 2),
        ("raw.customers", 2)]
    changed = tool(ex, "impact", repo=ex.repo, changed=[ex.x("dbt.model", "jaffle_shop.orders")])
    assert [(a["name"], a["type"], a["owners"]) for a in changed["affected"]] == [
        ("customers", "dbt.model", ["bob@example.com"]), ("customers", "sql.table", []),
        ("orders", "sql.table", [])]
    by_file = tool(ex, "impact", repo=ex.repo, changed=["models/staging/stg_orders.sql"], limit=3)
    assert by_file["changed"] == [ex.x("dbt.model", "jaffle_shop.stg_orders"),
                                  ex.x("file", "models/staging/stg_orders.sql")]
    assert [(a["name"], a["owners"]) for a in by_file["affected"]] == [
        ("customers", ["bob@example.com"]), ("orders", ["ann@example.com"]),
        ("orders_snapshot", ["ann@example.com"])]
    assert by_file["total_affected"] == 7 and by_file["more"] is not None
    c2 = tool(ex, "impact", repo=ex.repo, commit=ex.shas[1][:7])
    assert (c2["commit"], c2["parent"]) == (ex.shas[1], ex.shas[0])
    assert [a["name"] for a in c2["added"]] == ["customers", "not_null", "unique", "customers.sql"]
    assert c2["impact_edges"] == [["customers (dbt.model)", "customers (sql.table)"]]


def test_diff_hotspots_search_and_what_needs_the_stack(ex):
    diff = tool(ex, "graph_diff", repo=ex.repo, from_commit=ex.shas[0][:8], to_commit=ex.shas[2][:8])
    assert diff["counts"] == {"added": 4, "removed": 3}
    assert [(c["change"], c["name"]) for c in diff["changes"]][-3:] == [
        ("removed", "payment_methods"), ("removed", "payment_methods.csv"), ("removed", "seeds")]
    hot = tool(ex, "hotspots", repo=ex.repo, limit=2)
    assert [(h["rank"], h["path"], h["revisions"], h["authors"]) for h in hot["items"]] == [
        (1, "models/marts/orders.sql", 2, 2), (2, "models/staging/sources.yml", 1, 1)]
    assert hot["more"] is not None and hot["total"] == 18
    hits = tool(ex, "search", query="customers", node_type="dbt.model")
    assert [h["xid"] for h in hits["items"]] == [ex.x("dbt.model", "jaffle_shop.customers")]
    assert tool(ex, "run_saved_query")[0] == "error"
    assert "Dgraph" in tool(ex, "run_saved_query", name="files")[1]
    assert "/freshpoc/mcp" in tool(ex, "owners", repo=ex.repo, path="models")[1]


def test_errors_say_what_to_do(ex):
    assert "search tool" in tool(ex, "node", xid="dbt.model:nowhere:x")[1]
    orders = ex.x("dbt.model", "jaffle_shop.orders")
    assert "direction" in tool(ex, "lineage", xid=orders, direction="sideways")[1]
    assert "either commit" in tool(ex, "impact", repo=ex.repo)[1]
    assert "no processed commit" in tool(ex, "graph_diff", repo=ex.repo, from_commit="abcd",
                                         to_commit="abcd")[1]
    assert "not one this server gave" in tool(ex, "hotspots", repo=ex.repo, cursor="xyz")[1]
    assert "no repository" in tool(ex, "hotspots", repo="local/elsewhere")[1]


def test_resources(ex):
    async def read(client: Any) -> Any:
        listed = await client.list_resources()
        templates = await client.list_resource_templates()
        repos = await client.read_resource("freshpoc://repositories")
        rep = await client.read_resource(f"freshpoc://reports/repository/{ex.repo}")
        imp = await client.read_resource(f"freshpoc://reports/impact/{ex.shas[2][:12]}/{ex.repo}")
        return listed, templates, repos, rep, imp
    listed, templates, repos, rep, imp = call(ex, read)
    assert [r.uri for r in listed.resources] == ["freshpoc://repositories"]
    assert [t.uri_template for t in templates.resource_templates] == [
        "freshpoc://reports/repository/{+repo}", "freshpoc://reports/impact/{commit}/{+repo}"]
    assert f'"{ex.repo}"' in repos.contents[0].text
    assert rep.contents[0].text.startswith(f"# Repository report: {ex.repo}\n")
    assert ex.repo in imp.contents[0].text.splitlines()[0] and "payment_methods" in imp.contents[0].text


def test_stdio_command_answers_like_the_in_process_server(ex):
    """The ``freshpoc mcp`` process, spoken to over stdin/stdout by the SDK's stdio client."""
    asked = questions(ex)
    expected = call(ex, lambda c: ask_all(c, asked))
    command = ["-m", "freshpoc_tasks.cli.main", "mcp", "--graph", str(ex.out / "graph")]
    params = StdioServerParameters(command=sys.executable, args=command, cwd=str(ROOT),
                                   env={"PYTHONPATH": str(ROOT), "HOME": os.environ.get("HOME", "/root")})

    async def go() -> Any:
        async with Client(params) as client:
            return [t.name for t in (await client.list_tools()).tools], await ask_all(client, asked)
    names, got = asyncio.run(go())
    assert names == TOOLS
    assert got == expected
    assert not any(p == "error" for pages in got for page in pages for p in page if isinstance(page, tuple))
    assert sum(len(pages) > 1 for pages in got) >= 1  # a paged answer was walked with its cursor
