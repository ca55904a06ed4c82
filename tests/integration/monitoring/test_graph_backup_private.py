"""The graph part of backup/restore on a PRIVATE Dgraph (no stack needed): write a synthetic
repository, back it up with Dgraph's export, restore it (drop everything, ``dgraph live``), and
the canonical export is byte-equal to the one before."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from freshpoc_tasks.cli import backup as bk
from freshpoc_tasks.graph.export import canonical_export
from freshpoc_tasks.graph.ontology import load_graph_ontology
from freshpoc_tasks.graph.synthetic import synthetic_delta
from freshpoc_tasks.graph.writer import GraphWriter
from freshpoc_tasks.hooks.dgraph import DgraphHook
from freshpoc_tasks.testing.private import PrivateDgraph


def test_graph_backup_then_restore_gives_the_same_canonical_export(tmp_path) -> None:
    onto = load_graph_ontology()
    delta = synthetic_delta("backup/repo", "b" * 40, files=200, functions_per_file=5)
    with PrivateDgraph(tmp_path / "dgraph") as private:
        with DgraphHook(private.conn_id) as hook:
            writer = GraphWriter(hook, onto)
            writer.ensure_schema()
            writer.apply(delta, committed_at=datetime(2024, 5, 1, tzinfo=UTC))
            before = list(canonical_export(hook, onto))
        assert len(before) > 1000
        start = time.monotonic()
        counts = bk.backup_dgraph(private.cfg, tmp_path / "b")
        backed_up = time.monotonic() - start
        assert counts["dgraph_rdf_quads"] > len(before)
        start = time.monotonic()
        bk.restore_dgraph(private.cfg, tmp_path / "b")
        restored = time.monotonic() - start
        with DgraphHook(private.conn_id) as hook:
            after = list(canonical_export(hook, onto))
    print(f"\n{len(before)} nodes: export {backed_up:.1f} s, restore {restored:.1f} s")
    assert after == before
