"""CodeChunk in the real Weaviate: idempotent sync, stale deletion, filtered search."""

from __future__ import annotations

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.hooks.weaviate import CodeChunkHook, SyncResult, search
from freshpoc_tasks.search.chunker import chunk_delta
from freshpoc_tasks.search.progress import Progress

CORE = '''"""Decide what to reorder."""


def restock_plan(items, minimum=1):
    """SKUs to reorder, most urgent first."""
    return sorted(items)[:minimum]


def forecast_demand(history):
    """Expected units sold next week from the weekly sales history."""
    return sum(history[-4:]) / 4
'''
MODEL = "select id as customer_id, first_name from {{ source('raw', 'customers') }}\n"
PROJECT = "name: shop\nversion: '1.0'\nprofile: shop\n"


def _chunks(texts: dict[str, str], repo_id: str):
    files = [SourceFile.from_text(p, t) for p, t in texts.items()]
    return chunk_delta(analyse_repository(files, repo_id), {f.path: f.content for f in files})


def test_rerun_adds_nothing_and_a_deleted_function_loses_its_chunk(collection, embedder):
    first = _chunks({"pkg/core.py": CORE}, "local/shop")
    assert [c.xid for c in first] == [
        "py.function:local/shop:pkg.core.forecast_demand",
        "py.function:local/shop:pkg.core.restock_plan",
        "py.module:local/shop:pkg.core",
    ]
    with CodeChunkHook(collection=collection, embedder=embedder) as hook:
        assert hook.sync("local/shop", first) == SyncResult(chunks=3, unchanged=0, embedded=3, inserted=3,
                                                           deleted=0)
        embedded_before = embedder.texts
        assert hook.sync("local/shop", first) == SyncResult(chunks=3, unchanged=3, embedded=0, inserted=0,
                                                           deleted=0)
        assert embedder.texts == embedded_before
        assert hook.count("local/shop") == 3

        # the next commit deletes forecast_demand: its chunk goes, the module's member list changes
        second = _chunks({"pkg/core.py": CORE.split("\n\ndef forecast_demand")[0] + "\n"}, "local/shop")
        assert hook.sync("local/shop", second) == SyncResult(chunks=2, unchanged=1, embedded=1, inserted=1,
                                                            deleted=2)
        assert hook.count("local/shop") == 2
        hits = hook.search("weekly sales forecast", mode="bm25", limit=10)
        assert "py.function:local/shop:pkg.core.forecast_demand" not in {h.xid for h in hits}
        stored = hook.collection.query.fetch_objects(limit=10, return_properties=["xid"]).objects
        assert sorted(o.properties["xid"] for o in stored) == [
            "py.function:local/shop:pkg.core.restock_plan", "py.module:local/shop:pkg.core"]


class FailingAfter:
    """The real model, failing on its n-th call: a task killed in the middle of a big repository."""

    def __init__(self, inner, calls: int) -> None:
        self.inner, self.calls = inner, calls
        self.name, self.dimensions = inner.name, inner.dimensions

    def embed(self, texts):
        self.calls -= 1
        if self.calls < 0:
            raise RuntimeError("worker lost")
        return self.inner.embed(texts)


def test_a_retry_keeps_finished_steps_and_embeds_only_the_rest(collection, embedder):
    texts = {f"pkg/m{n}.py": f'def f{n}(x):\n    """Step {n} of a long run."""\n    return x + {n}\n'
             for n in range(7)}
    chunks = _chunks(texts, "local/big")  # 7 functions + 7 modules
    with CodeChunkHook(collection=collection, embedder=embedder) as hook:
        with pytest.raises(RuntimeError, match="worker lost"):
            hook.sync("local/big", chunks, embedder=FailingAfter(embedder, calls=2), step=4)
        assert hook.count("local/big") == 8  # two steps of 4 were stored before the failure
        before = embedder.texts
        progress = Progress()
        retry = hook.sync("local/big", chunks, step=4, progress=progress)
        assert retry == SyncResult(chunks=14, unchanged=8, embedded=6, inserted=6, deleted=0)
        assert embedder.texts - before == 6
        assert progress.line().startswith("done: 6 embedded, 8 unchanged, 0 deleted")
        assert hook.sync("local/big", chunks).embedded == 0  # the same commit again changes nothing


def test_search_modes_and_filters(collection, embedder):
    shop = _chunks({"pkg/core.py": CORE, "dbt/dbt_project.yml": PROJECT,
                    "dbt/models/stg_customers.sql": MODEL}, "local/shop")
    other = _chunks({"pkg/core.py": CORE}, "local/other")
    with CodeChunkHook(collection=collection, embedder=embedder) as hook:
        hook.sync("local/shop", shop)
        hook.sync("local/other", other)
        assert (hook.count("local/shop"), hook.count("local/other"), hook.count()) == (7, 3, 10)

        question = "how many units will we sell next week?"
        for mode in ("hybrid", "bm25", "vector"):
            top = hook.search(question, mode=mode, repo_id="local/shop", limit=1)
            assert [h.xid for h in top] == ["py.function:local/shop:pkg.core.forecast_demand"], mode
        hit = hook.search(question, repo_id="local/other", limit=1)[0]
        assert (hit.xid, hit.node_type, hit.language, hit.repo_id, hit.path, hit.name) == (
            "py.function:local/other:pkg.core.forecast_demand", "py.function", "python", "local/other",
            "pkg/core.py", "forecast_demand")
        assert hit.snippet.startswith("def forecast_demand(history):")

        sql_only = hook.search(question, language="sql", limit=10)
        assert {(h.xid, h.language) for h in sql_only} == {
            ("dbt.model:local/shop:shop.stg_customers", "sql"),
            ("sql.table:default:main.stg_customers", "sql"),
            ("sql.table:default:raw.customers", "sql")}
        modules = hook.search("reorder", node_type=["py.module"], limit=10)
        assert sorted(h.xid for h in modules) == [
            "py.module:local/other:pkg.core", "py.module:local/shop:pkg.core"]
        assert hook.search("   ") == []

    # the one-shot function the query API uses
    hits = search(question, repo_id="local/shop", limit=2, collection=collection, embedder=embedder)
    assert hits[0].xid == "py.function:local/shop:pkg.core.forecast_demand"
    assert search(question, collection=collection + "Missing", embedder=embedder) == []
