"""Graph integration fixtures: the shared Dgraph (a unique repository id per test, its nodes
deleted when the test ends) and, for crash drills and benchmarks, a private Dgraph started the
project's way."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from freshpoc_tasks.graph.ontology import GraphOntology, load_graph_ontology
from freshpoc_tasks.graph.writer import GraphWriter
from freshpoc_tasks.hooks.dgraph import DgraphHook
from freshpoc_tasks.testing.private import PrivateDgraph


@pytest.fixture(scope="session")
def onto() -> GraphOntology:
    return load_graph_ontology()


@pytest.fixture(scope="session")
def shared_writer(stack, onto) -> Iterator[GraphWriter]:
    with DgraphHook() as hook:
        writer = GraphWriter(hook, onto)
        writer.ensure_schema()
        yield writer


@pytest.fixture
def repo_id(stack) -> Iterator[str]:
    from tests.integration.cleanup import forget_graph

    repo = f"test/graph-{uuid.uuid4().hex[:10]}"
    yield repo
    forget_graph(repo)


@pytest.fixture(scope="module")
def private_dgraph(tmp_path_factory) -> Iterator[PrivateDgraph]:
    pd = PrivateDgraph(tmp_path_factory.mktemp("dgraph-state"))
    pd.up()
    try:
        yield pd
    finally:
        pd.down()
