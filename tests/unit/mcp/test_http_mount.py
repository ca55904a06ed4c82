"""The query API app serves the MCP server at ``/mcp``, behind the app's access dependency.

Wiring only, over HTTP on a loopback port with the SDK's own streamable-HTTP client: the access
rule here is a stand-in that wants one header (Airflow's real rule, 401 and 403 included, is
tested against the running api-server in tests/integration/mcp). No graph is needed: the saved
query catalogue is read from the query files, not from Dgraph.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import HTTPException, Request

from freshpoc_tasks.api.app import create_app
from freshpoc_tasks.api.store import load_saved_queries
from freshpoc_tasks.testing.serve import ServedApp
from tests.unit.mcp.graphs import over_http


async def header_access(request: Request) -> str:
    if request.headers.get("authorization") != "Bearer let-me-in":
        raise HTTPException(401, "Not authenticated")
    return "someone"


@pytest.fixture(scope="module")
def base() -> Iterator[str]:
    app = create_app(runner_factory=lambda: None, auth_dependency=header_access)
    with ServedApp(app) as served:
        yield served.url


def test_mcp_is_served_behind_the_access_dependency(base):
    async def ask(client: Any) -> Any:
        tools = [t.name for t in (await client.list_tools()).tools]
        catalogue = await client.call_tool("run_saved_query", {})
        return tools, catalogue.structured_content
    tools, catalogue = over_http(f"{base}/mcp", "let-me-in", ask)
    assert tools == ["search", "node", "dependencies", "lineage", "impact", "hotspots", "owners",
                     "graph_diff", "run_saved_query"]
    assert sorted(q["name"] for q in catalogue["queries"]) == sorted(load_saved_queries())


def test_without_access_the_endpoint_answers_the_apis_problem(base):
    r = httpx.post(f"{base}/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                   headers={"Accept": "application/json, text/event-stream"})
    assert (r.status_code, r.headers["content-type"]) == (401, "application/problem+json")
    statuses: list[int] = []
    with pytest.raises(Exception, match="unhandled errors"):
        over_http(f"{base}/mcp", "wrong", lambda c: c.list_tools(), statuses)
    assert statuses and set(statuses) == {401}


def test_the_endpoint_is_not_in_the_openapi_document(base):
    assert "/mcp" not in httpx.get(f"{base}/openapi.json").json()["paths"]
