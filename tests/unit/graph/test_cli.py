"""``freshpoc graph schema`` prints exactly the generated schema."""

from __future__ import annotations

from freshpoc_tasks.cli.main import main
from freshpoc_tasks.graph.ontology import generate_schema, load_graph_ontology


def test_graph_schema_prints_the_generated_schema(capsys):
    assert main(["graph", "schema"]) == 0
    assert capsys.readouterr().out == generate_schema(load_graph_ontology())
