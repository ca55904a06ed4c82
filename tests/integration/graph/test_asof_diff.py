"""As-of and diff on a three-commit repository (add, change, delete), mined and analysed for
real, written in order and — for a second repository id — out of order (a backfill)."""

from __future__ import annotations

from datetime import datetime

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.gitsource import iter_source_files
from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import GraphDelta
from freshpoc_tasks.contracts.mining import MINING_RECORDS
from freshpoc_tasks.graph import queries
from freshpoc_tasks.graph import validity as v
from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
from freshpoc_tasks.graph.records import node_hash
from freshpoc_tasks.mining.access import open_repository
from freshpoc_tasks.mining.pipeline import mine_repository
from freshpoc_tasks.testing import RepoBuilder

A1 = 'def total(xs):\n    """Sum."""\n    return sum(xs)\n'
A2 = ('def total(xs):\n    """Sum of the values."""\n    return sum(xs)\n\n\n'
      'def mean(xs):\n    return total(xs) / len(xs)\n')


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("asof")
    rb = RepoBuilder(tmp / "calc.git")
    shas = [
        rb.commit("add", write={"calc/core.py": A1, "calc/__init__.py": "", "README.md": "calc\n"},
                  date="2024-01-01T10:00:00+00:00"),
        rb.commit("change", write={"calc/core.py": A2}, date="2024-01-02T10:00:00+00:00"),
        rb.commit("delete", delete=["README.md", "calc/__init__.py"], date="2024-01-03T10:00:00+00:00"),
    ]
    out: list[tuple[GraphDelta, datetime]] = []
    for i, sha in enumerate(shas):
        mined = mine_repository(str(tmp / "calc.git"), tmp / f"mine{i}", cache_dir=tmp / "mirrors", ref=sha)
        records = list(read_jsonl(mined.artifact, MINING_RECORDS))
        repo = open_repository(str(tmp / "calc.git"), tmp / "mirrors", fetch=False)
        analysed = analyse_repository(list(iter_source_files(repo, sha)), mined.repo_id, commit=sha)
        delta = merge_deltas(mining_delta(records), analysed)
        out.append((delta, records[0].committed_at))
    return out


def _as_repo(delta: GraphDelta, repo: str) -> GraphDelta:
    """The same delta under another repository id (ids and scopes rewritten)."""
    old = delta.repo_id

    def rid(x: str) -> str:
        t, rest = x.split(":", 1)
        return f"{t}:{repo}:{rest[len(old) + 1:]}" if rest.startswith(old + ":") else x

    nodes = [n.model_copy(update={"id": rid(n.id), "scope": repo if n.scope == old else n.scope,
                                  "key": repo if n.type == "repository" else n.key,
                                  "name": repo if n.type == "repository" else n.name}) for n in delta.nodes]
    edges = [e.model_copy(update={"src": rid(e.src), "dst": rid(e.dst)}) for e in delta.edges]
    return delta.model_copy(update={"repo_id": repo, "nodes": nodes, "edges": edges})


def _as_of(writer, repo: str, when: datetime) -> tuple[set[str], set[tuple[str, str, str]]]:
    t = v.to_us(when)
    dql, variables = queries.nodes_of_repo(repo, at_us=t, first=10000)
    nodes = {n["xid"] for n in writer.hook.query(dql, variables)["n"]}
    edges = set()
    for xid in nodes:
        dql, variables = queries.neighbourhood(writer.onto, xid, at_us=t)
        for rec in writer.hook.query(dql, variables)["n"]:
            for etype in writer.onto.base.edge_types:
                edges |= {(etype, xid, c["xid"]) for c in rec.get(etype, [])}
    return nodes, edges


def _expected(delta: GraphDelta) -> tuple[set[str], set[tuple[str, str, str]]]:
    """Owned nodes, and owned edges whose target exists at that commit (a commit's ``modifies``
    edge to a since-deleted file is kept in the graph but not shown as of a later commit)."""
    owned = {n.id for n in delta.nodes if n.scope == delta.repo_id}
    present = {n.id for n in delta.nodes}
    return owned, {(e.type, e.src, e.dst) for e in delta.edges if e.src in owned and e.dst in present}


def _owned_edges(delta: GraphDelta) -> set[tuple[str, str, str]]:
    owned = {n.id for n in delta.nodes if n.scope == delta.repo_id}
    return {(e.type, e.src, e.dst) for e in delta.edges if e.src in owned}


def test_as_of_each_commit_and_diffs(shared_writer, history, repo_id):
    deltas = [(_as_repo(d, repo_id), t) for d, t in history]
    results = [shared_writer.apply(d, committed_at=t) for d, t in deltas]
    for d, t in deltas:
        assert _as_of(shared_writer, repo_id, t) == _expected(d)

    c1, c2 = deltas[0][0], deltas[1][0]
    f = f"file:{repo_id}"
    core = f"py.function:{repo_id}:calc.core"
    # Commit 2 changed core.py: a new function, a changed docstring, new metrics on the file.
    diff2 = results[1].diff
    assert diff2.previous_commit == c1.commit
    assert {n.id for n in diff2.nodes_added} == {f"{core}.mean", f"commit:{repo_id}:{c2.commit}"}
    assert diff2.nodes_removed == []
    changed = {n.id: n.fields for n in diff2.nodes_changed}
    assert changed[f"{core}.total"] == {"docstring": ["Sum.", "Sum of the values."]}
    assert changed[f"{f}:calc/core.py"]["revisions"] == [1, 2]
    # Commit 3 deleted two files: they, their module node and their edges are removed.
    diff3 = results[2].diff
    removed = {n.id for n in diff3.nodes_removed}
    assert f"{f}:README.md" in removed and f"{f}:calc/__init__.py" in removed
    assert f"py.module:{repo_id}:calc" in removed
    # Exactly the set differences of what each commit holds (hash-level for changes).
    for (prev, _), (cur, _), res in zip(deltas, deltas[1:], results[1:], strict=False):
        (pn, _), (cn, _) = _expected(prev), _expected(cur)
        pe, ce = _owned_edges(prev), _owned_edges(cur)
        ph = {n.id: node_hash(n) for n in prev.nodes}
        ch = {n.id: node_hash(n) for n in cur.nodes}
        assert {n.id for n in res.diff.nodes_added} == cn - pn
        assert {n.id for n in res.diff.nodes_removed} == pn - cn
        assert {n.id for n in res.diff.nodes_changed} == {x for x in pn & cn if ph[x] != ch[x]}
        assert {(e.type, e.src, e.dst) for e in res.diff.edges_added} == ce - pe
        assert {(e.type, e.src, e.dst) for e in res.diff.edges_removed} == pe - ce
    assert results[2].counts["nodes_closed"] == len(removed)


def test_backfill_out_of_order_gives_the_same_history(shared_writer, history, repo_id):
    deltas = [(_as_repo(d, repo_id), t) for d, t in history]
    diffs = {}
    for i in (0, 2, 1):  # commit 2 arrives last, like a backfill
        d, t = deltas[i]
        diffs[i] = shared_writer.apply(d, committed_at=t).diff
    for d, t in deltas:
        assert _as_of(shared_writer, repo_id, t) == _expected(d)
    # Re-processing commit 3 now diffs it against its true predecessor, commit 2.
    d3, t3 = deltas[2]
    again = shared_writer.apply(d3, committed_at=t3)
    assert again.counts["nodes_created"] == 0 and again.counts["edges_created"] == 0
    assert again.diff.previous_commit == deltas[1][0].commit
    assert {n.id for n in again.diff.nodes_removed} >= {f"file:{repo_id}:README.md"}
