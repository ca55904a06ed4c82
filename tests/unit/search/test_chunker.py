"""Chunks of an analysed repository: what each node turns into, and when its id changes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.search.chunker import chunk_delta, chunk_uuid, markdown_sections, words

EXAMPLES = Path(__file__).resolve().parents[3] / "include" / "examples"

CORE = '''"""Decide what to reorder."""


def restock_plan(items, minimum=1):
    """SKUs to reorder, most urgent first."""
    return sorted(items)[:minimum]


def unused():
    return 1
'''
README = """Intro line.

# Install
Run `make`.

```sh
# not a heading
make
```

## Use
Call it.
"""


def _files(texts: dict[str, str]) -> list[SourceFile]:
    return [SourceFile.from_text(p, t) for p, t in texts.items()]


def _chunks(texts: dict[str, str], repo_id: str = "local/t", with_sources: bool = True):
    files = _files(texts)
    delta = analyse_repository(files, repo_id)
    return chunk_delta(delta, {f.path: f.content for f in files} if with_sources else None)


@pytest.fixture(scope="module")
def examples():
    files = [SourceFile.from_text(p.relative_to(EXAMPLES).as_posix(), p.read_bytes())
             for p in sorted(EXAMPLES.rglob("*")) if p.is_file()]
    return analyse_repository(files, "local/examples"), {f.path: f.content for f in files}


@pytest.mark.parametrize(("identifier", "expected"), [
    ("inventory.core.PerishableItem.needs_restock", "inventory core perishable item needs restock"),
    ("data-lake::aws:s3/bucketV2:BucketV2::raw-data", "data lake aws s3 bucket v2 bucket v2 raw data"),
    ("HTTPServer2", "http server2"),
])
def test_words_turns_identifiers_into_prose(identifier, expected):
    assert words(identifier) == expected


def test_a_function_chunk_has_a_prose_header_and_its_source_lines():
    by_xid = {c.xid: c for c in _chunks({"pkg/core.py": CORE, "README.md": README})}
    fn = by_xid["py.function:local/t:pkg.core.restock_plan"]
    assert fn.text == (
        "Python function restock_plan (pkg core restock plan)\n"
        "in pkg/core.py\n"
        "signature: (items, minimum=...)\n"
        "SKUs to reorder, most urgent first.\n\n"
        'def restock_plan(items, minimum=1):\n    """SKUs to reorder, most urgent first."""\n'
        "    return sorted(items)[:minimum]"
    )
    assert (fn.language, fn.node_type, fn.name, fn.path, fn.part) == (
        "python", "py.function", "restock_plan", "pkg/core.py", 0)
    assert fn.uuid == chunk_uuid(fn.xid, fn.content_hash)
    module = by_xid["py.module:local/t:pkg.core"]
    assert module.text == ("Python module (source file) core (pkg core)\nin pkg/core.py\n"
                           "contains: restock_plan, unused\nDecide what to reorder.")


def test_markdown_sections_ignore_headings_inside_code_fences():
    assert markdown_sections(README) == [
        ("", "Intro line."),
        ("Install", "# Install\nRun `make`.\n\n```sh\n# not a heading\nmake\n```"),
        ("Use", "## Use\nCall it."),
    ]
    docs = [c for c in _chunks({"pkg/core.py": CORE, "README.md": README}) if c.language == "markdown"]
    assert [(c.xid, c.part, c.name, c.node_type) for c in docs] == [
        ("file:local/t:README.md", 0, "README.md", "file"),
        ("file:local/t:README.md", 1, "Install", "file"),
        ("file:local/t:README.md", 2, "Use", "file"),
    ]
    assert len({c.uuid for c in docs}) == 3


def test_ids_change_only_for_the_chunks_whose_content_changed():
    before = {c.xid: c.uuid for c in _chunks({"pkg/core.py": CORE})}
    assert before == {c.xid: c.uuid for c in _chunks({"pkg/core.py": CORE})}
    edited = CORE.replace("sorted(items)", "sorted(items, reverse=True)")
    after = {c.xid: c.uuid for c in _chunks({"pkg/core.py": edited})}
    assert {x for x in before if before[x] != after[x]} == {"py.function:local/t:pkg.core.restock_plan"}
    # the same node text in another repository is another object
    other = {c.xid: c.uuid for c in _chunks({"pkg/core.py": CORE}, repo_id="local/u")}
    assert not set(other.values()) & set(before.values())


def test_another_embedding_model_gives_other_object_ids():
    chunks = _chunks({"pkg/core.py": CORE})
    int8 = {c.object_id("all-minilm-l6-v2-q@1.19.0-beta29") for c in chunks}
    float_ = {c.object_id("all-minilm-l6-v2@1.19.0-beta29") for c in chunks}
    assert len(int8) == len(float_) == len(chunks) and not int8 & float_
    assert int8 == {c.object_id("all-minilm-l6-v2-q@1.19.0-beta29") for c in _chunks({"pkg/core.py": CORE})}
    assert {c.object_id("") for c in chunks} == {c.uuid for c in chunks}


def test_without_sources_chunks_keep_their_header(examples):
    delta, _ = examples
    chunks = chunk_delta(delta)
    fn = next(c for c in chunks if c.xid == "py.function:local/examples:inventory.core.restock_plan")
    assert fn.text == ("Python function restock_plan (inventory core restock plan)\n"
                       "in py_inventory/src/inventory/core.py\n"
                       "signature: (items: list[Item], minimum: int=...)\n"
                       "SKUs to reorder, most urgent first.")
    assert fn.snippet == "SKUs to reorder, most urgent first."
    assert all(c.text.strip() for c in chunks)


def test_example_projects_chunk_by_node_type(examples):
    delta, sources = examples
    chunks = chunk_delta(delta, sources)
    assert sorted(Counter(c.node_type for c in chunks).items()) == [
        ("airflow.dag", 2), ("airflow.task", 7), ("dbt.macro", 1), ("dbt.model", 6), ("dbt.project", 1),
        ("dbt.seed", 1), ("dbt.snapshot", 1), ("dbt.source", 3), ("dbt.test", 11), ("pulumi.project", 1),
        ("pulumi.resource", 5), ("pulumi.stack", 1), ("py.class", 4), ("py.function", 13), ("py.module", 7),
        ("sql.column", 4), ("sql.statement", 2), ("sql.table", 13)]
    assert sorted(Counter(c.language for c in chunks).items()) == [
        ("csv", 1), ("python", 38), ("sql", 27), ("yaml", 17)]
    by_xid = {c.xid: c for c in chunks}
    # model descriptions come from schema YAML, column descriptions from the analysis
    customers = by_xid["dbt.model:local/examples:jaffle_shop.customers"]
    assert customers.text.splitlines()[:4] == [
        "dbt model (SQL transformation) customers (jaffle shop customers)",
        "in jaffle_shop/models/marts/customers.sql",
        "materialized: table", "One row per customer with their ordering history."]
    assert by_xid["sql.column:default:jaffle_shop.main.customers.lifetime_value"].text == (
        "SQL column (field of a table) lifetime_value (jaffle shop main customers lifetime value)\n"
        "table: jaffle_shop.main.customers\nTotal paid over all orders, in dollars.")
    # a SQL file's statements each run to the next one
    assert by_xid["sql.statement:local/examples:airflow_dags/dags/sql/load_raw_orders.sql#0"].text.endswith(
        "\n\ndelete from raw.orders where order_date = '{{ ds }}';")
    assert [c.xid for c in chunks] == sorted(c.xid for c in chunks)
    assert len({c.uuid for c in chunks}) == len(chunks)
