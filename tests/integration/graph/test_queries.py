"""Query helpers against the shared Dgraph: dependencies, lineage, counts, as-of."""

from __future__ import annotations

from datetime import UTC, datetime

from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node
from freshpoc_tasks.graph import queries
from freshpoc_tasks.graph.validity import to_us

T1, T2 = datetime(2024, 6, 1, tzinfo=UTC), datetime(2024, 6, 2, tzinfo=UTC)


def _fn(repo: str, k: str) -> Node:
    return Node(id=f"py.function:{repo}:{k}", type="py.function", scope=repo, key=k, name=k)


def _col(repo: str, k: str) -> Node:
    return Node(id=f"sql.column:{repo}:{k}", type="sql.column", scope=repo, key=k, name=k)


def test_dependencies_lineage_counts_and_as_of(shared_writer, repo_id):
    hook, onto = shared_writer.hook, shared_writer.onto
    f = [_fn(repo_id, f"f{i}") for i in range(4)]
    c = [_col(repo_id, f"c{i}") for i in range(3)]
    calls = [Edge(type="calls", src=f[i].id, dst=f[i + 1].id) for i in range(3)]
    lineage = [Edge(type="derives_from", src=c[i + 1].id, dst=c[i].id) for i in range(2)]
    d1 = GraphDelta(repo_id=repo_id, commit="c1", ontology_version="0.2.0", nodes=f + c,
                    edges=calls + lineage)
    shared_writer.apply(d1, committed_at=T1)
    # At commit 2 the call f1 -> f2 is gone.
    d2 = d1.model_copy(update={"commit": "c2", "edges": [calls[0], calls[2], *lineage]})
    shared_writer.apply(d2, committed_at=T2)

    def run(q):
        return queries.flatten(hook.query(*q))

    assert run(queries.dependencies(onto, f[0].id, depth=3, at_us=to_us(T1))) == {x.id for x in f}
    assert run(queries.dependencies(onto, f[0].id, depth=3)) == {f[0].id, f[1].id}
    assert run(queries.dependencies(onto, f[3].id, depth=2, direction="up", at_us=to_us(T1))) == {
        f[3].id, f[2].id, f[1].id}
    assert run(queries.lineage(onto, c[2].id, depth=5)) == {x.id for x in c}
    assert run(queries.lineage(onto, c[0].id, depth=1, direction="down")) == {c[0].id, c[1].id}
    counts = hook.query(*queries.counts_by_type(repo_id))["c"][0]["@groupby"]
    assert sorted((g["ntype"], g["count"]) for g in counts) == [("py.function", 4), ("sql.column", 3)]
    assert run(queries.nodes_of_repo(repo_id, node_type="sql.column")) == {x.id for x in c}
    timeline = hook.query(*queries.commit_time(repo_id))["s"][0]["fp_timeline"]
    assert timeline == f'[[{to_us(T1)},"c1"],[{to_us(T2)},"c2"]]'
