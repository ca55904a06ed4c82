"""One question, one answer, wherever the MCP server runs: the query API app's ``/mcp`` over a
(private) Dgraph holding a history, and ``freshpoc mcp --graph`` over that history's ``freshpoc
report`` output, asked the same tool calls through the SDK's clients (streamable HTTP and stdio),
give equal answers — every page of them.

The Dgraph is a throwaway one (the project's PrivateDgraph), so this holds without the shared
stack; the api-server itself, with Airflow's auth, is test_mcp_served.py. The app runs with access
allowed (the access rule is not what this test is about).
"""

from __future__ import annotations

import asyncio
import json
import os
from typing import Any

from freshpoc_tasks.testing.serve import ServedApp
from tests.integration.mcp.test_mcp_served import TOOLS, over_stdio, write_like_report
from tests.unit.mcp.graphs import ask_all, questions, report

CONN = "freshpoc_mcp_same_answers"


def serve(conn: str) -> ServedApp:
    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    async def anyone() -> str:
        return "test"

    return ServedApp(create_app(runner_factory=lambda: DgraphHook(conn), auth_dependency=anyone))


def test_http_app_over_dgraph_and_stdio_over_the_report_answer_alike(tmp_path):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook
    from tests.integration.api.graphdata import private_dgraph

    ex = report(tmp_path)
    asked = questions(ex)

    async def over_http(url: str) -> Any:
        async with httpx2.AsyncClient(timeout=120) as http, \
                Client(streamable_http_client(url, http_client=http)) as client:
            return [t.name for t in (await client.list_tools()).tools], await ask_all(client, asked)

    with private_dgraph(tmp_path / "dgraph") as ports:
        os.environ[f"AIRFLOW_CONN_{CONN.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": ports["dgraph_grpc"],
             "extra": {"timeout": 120}})
        try:
            with DgraphHook(CONN) as hook:
                writer = GraphWriter(hook)
                writer.ensure_schema()
                write_like_report(writer, ex, tmp_path / "work")
            with serve(CONN) as app:
                tools, served = asyncio.run(over_http(f"{app.url}/mcp"))
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{CONN.upper()}", None)
    local = over_stdio(ex, lambda c: ask_all(c, asked))
    assert tools == TOOLS
    for (name, args), a, b in zip(asked, served, local, strict=True):
        assert a == b, (name, args)
    assert not any(isinstance(p, tuple) for pages in served for p in pages), served
    assert sum(len(pages) > 1 for pages in served) >= 2  # cursors were followed on both sides
    lineage = served[[n for n, _ in asked].index("lineage")][0]
    assert [n["name"] for n in lineage["nodes"]] == ["amount", "amount", "amount"]
