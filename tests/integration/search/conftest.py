"""A private CodeChunk collection per test session on the running Weaviate, dropped afterwards."""

from __future__ import annotations

import uuid

import pytest

from freshpoc_tasks.search.embedder import OnnxEmbedder
from freshpoc_tasks.search.model import installed_model


class CountingEmbedder:
    """The real model, counting the texts it is asked to embed (to prove reuse of vectors)."""

    def __init__(self) -> None:
        self.inner = OnnxEmbedder(installed_model())  # installed by `freshpoc stack up`, never here
        self.name = self.inner.name
        self.dimensions = self.inner.dimensions
        self.texts = 0

    def embed(self, texts):
        self.texts += len(texts)
        return self.inner.embed(texts)

    def embed_chunks(self, chunks):
        """What the hook calls: each chunk read as far as the model's cut says for its kind."""
        self.texts += len(chunks)
        return self.inner.embed_chunks(chunks)


@pytest.fixture(scope="session")
def embedder() -> CountingEmbedder:
    return CountingEmbedder()


@pytest.fixture(scope="session")
def search_servers():
    """Weaviate and MinIO healthy; the search tests need no other server (Airflow may restart)."""
    from freshpoc_tasks.stack.manager import Stack, format_table

    rows = [r for r in Stack().status() if r.service in {"weaviate", "minio"}]
    if len(rows) != 2 or not all(r.state == "healthy" for r in rows):
        pytest.fail("Weaviate or MinIO is not healthy; run 'freshpoc stack up'\n" + format_table(rows))


@pytest.fixture
def collection(search_servers) -> str:
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook

    name = f"CodeChunkTest{uuid.uuid4().hex[:10]}"
    yield name
    with CodeChunkHook(collection=name) as hook:
        hook.drop_collection()
