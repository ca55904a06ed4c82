"""Fixtures for the query API: a private Dgraph holding the examples' history, real Airflow auth.

The graph lives in a throwaway Dgraph (never the shared one other work writes to). Users and
tokens are the running Airflow's: tokens come from its ``POST /auth/token`` and are checked by
Airflow's auth manager initialised in this process with the stack's configuration.
"""

from __future__ import annotations

import json
import os

import pytest

from freshpoc_tasks.testing import RepoBuilder
from tests.integration.api.graphdata import example_files, private_dgraph, write_history

ANN = "Ann Analyst <ann@example.com>"
BOB = "Bob Builder <bob@example.com>"
TEST_CONN = "freshpoc_api_test_dgraph"


def jaffle_trees() -> list[dict[str, str]]:
    """Three commits: everything but the customers mart; add it and touch orders; drop the seed."""
    full = example_files("jaffle_shop")
    c1 = {p: t for p, t in full.items() if not p.startswith("models/marts/customers")}
    c2 = {**full, "models/marts/orders.sql": full["models/marts/orders.sql"] + "\n-- reviewed\n"}
    c3 = {p: t for p, t in c2.items() if p != "seeds/payment_methods.csv"}
    return [c1, c2, c3]


def _commit_trees(repo: RepoBuilder, trees: list[dict[str, str]], authors: list[str]) -> list[str]:
    shas, prev = [], {}
    for n, (tree, author) in enumerate(zip(trees, authors, strict=True), 1):
        write = {p: t for p, t in tree.items() if prev.get(p) != t}
        shas.append(repo.commit(f"step {n}", author=author, write=write,
                                delete=[p for p in prev if p not in tree],
                                date=f"2024-0{n}-01T10:00:00+00:00"))
        prev = tree
    return shas


@pytest.fixture(scope="session")
def graph(stack, tmp_path_factory):
    """Load jaffle_shop (3 commits, 2 authors) and py_inventory (1 commit); yield what was loaded."""
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    base = tmp_path_factory.mktemp("apigraph")
    with private_dgraph(base / "state") as ports:
        os.environ[f"AIRFLOW_CONN_{TEST_CONN.upper()}"] = json.dumps(
            {"conn_type": "dgraph", "host": "127.0.0.1", "port": ports["dgraph_grpc"],
             "extra": {"timeout": 120}})
        try:
            with DgraphHook(TEST_CONN) as hook:
                writer = GraphWriter(hook)
                writer.ensure_schema()
                j = RepoBuilder(base / "jaffle_shop.git")
                jshas = _commit_trees(j, jaffle_trees(), [ANN, BOB, ANN])
                jrepo = write_history(writer, j.path, jshas, base / "w1", repo_id="local/jaffle_shop")
                p = RepoBuilder(base / "py_inventory.git")
                pshas = _commit_trees(p, [example_files("py_inventory")], [BOB])
                prepo = write_history(writer, p.path, pshas, base / "w2", repo_id="local/py_inventory")
            yield {"jaffle": jrepo, "jaffle_shas": jshas, "inventory": prepo, "ports": ports}
        finally:
            os.environ.pop(f"AIRFLOW_CONN_{TEST_CONN.upper()}", None)


@pytest.fixture(scope="session")
def api(graph, tokens):
    """The API in-process (TestClient) with Airflow's real auth, over the private Dgraph."""
    from airflow.api_fastapi.app import init_auth_manager
    from fastapi.testclient import TestClient

    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    init_auth_manager()
    app = create_app(runner_factory=lambda: DgraphHook(TEST_CONN))
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {tokens['admin']}"
        yield client
