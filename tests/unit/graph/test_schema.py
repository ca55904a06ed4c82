"""The Dgraph schema is generated from the ontology, deterministically, and refuses clashes."""

from __future__ import annotations

import pytest

from freshpoc_tasks.graph.ontology import (
    dgraph_type_name,
    generate_schema,
    load_graph_ontology,
    parse_graph_ontology,
)

MINI = """
version: 1.2.3
node_types:
  py.function:
    fields: {docstring: string, decorators: "list[string]", complexity: int}
  commit:
    fields: {sha: string}
    lifecycle: history
edge_types:
  calls:
    from: [py.function]
    to: [py.function]
  parent:
    from: [commit]
    to: [commit]
    lifecycle: history
"""


def test_mini_ontology_schema_exact_lines():
    onto = parse_graph_ontology(MINI)
    schema = generate_schema(onto)
    lines = schema.splitlines()
    assert lines[0] == "# generated from ontology 1.2.3; do not edit"
    assert "<xid>: string @index(exact) @upsert ." in lines
    assert "<name>: string @index(hash, trigram) ." in lines
    assert "<decorators>: string ." in lines  # ordered list kept as JSON text
    assert "<complexity>: int ." in lines
    assert "<calls>: [uid] @reverse ." in lines
    start = lines.index("type PyFunction {")
    body = lines[start + 1:lines.index("}", start)]
    assert body == ["  <xid>", "  <ntype>", "  <name>", "  <path>", "  <scope>", "  <key>", "  <span_start>",
                    "  <span_end>", "  <repo>", "  <vf>", "  <vt>", "  <vs>", "  <vhf>", "  <vht>", "  <vg>",
                    "  <vb>", "  <h>",
                    "  <xprops>", "  <complexity>", "  <decorators>", "  <docstring>", "  <calls>"]
    assert onto.lifecycle("commit") == "history"
    assert onto.lifecycle("parent") == "history"
    assert onto.lifecycle("py.function") == "state"
    assert generate_schema(parse_graph_ontology(MINI)) == schema


def test_project_ontology_generates():
    onto = load_graph_ontology()
    schema = generate_schema(onto)
    assert "type DbtModel {" in schema and "<derives_from>: [uid] @reverse ." in schema
    assert onto.lifecycle("modifies") == "history"


@pytest.mark.parametrize(("bad", "message"), [
    ("version: 1.0.0\nnode_types:\n  a: {fields: {x: int}}\n  b: {fields: {x: string}}\n",
     "field 'x' is int in one node type and string in b"),
    ("version: 1.0.0\nnode_types:\n  a: {fields: {vf: string}}\n", "clashes with the core predicate vf"),
    ("version: 1.0.0\nnode_types:\n  a: {lifecycle: forever}\n", "lifecycle must be"),
    ("version: 1.0.0\nnode_types:\n  a: {fields: {name: string}}\n  x: {}\nedge_types:\n"
     "  name: {from: [a], to: [x]}\n", "edge types named like node predicates: ['name']"),
])
def test_clashes_are_refused(bad, message):
    with pytest.raises(ValueError) as err:
        parse_graph_ontology(bad)
    assert message in str(err.value)


@pytest.mark.parametrize(("name", "expected"), [
    ("py.function", "PyFunction"), ("file", "File"), ("sql.column", "SqlColumn"), ("dbt.seed", "DbtSeed")])
def test_type_names(name, expected):
    assert dgraph_type_name(name) == expected
