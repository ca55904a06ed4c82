"""One question, one meaning: the Dgraph store and the local store answer alike.

Every example project (include/examples/*) is mined and analysed the pipeline's way and each
commit's merged delta is written twice — by the real ``GraphWriter`` into a private Dgraph, and
into the embedded :class:`~freshpoc_tasks.graph.local_store.LocalGraph` ``freshpoc report`` keeps.
Then both stores are asked the same questions (node, dependencies and lineage both ways, the
timeline, counts and listing as of each commit, the aggregates stored with each commit, changes
and impact between commits) and must give equal answers. jaffle_shop gets six commits (a model
added, one touched, a seed dropped, the seed back, the seed and the model dropped, both back) so
the as-of and diff answers have history to disagree about, including gaps their validity
envelopes do not show: the model has one hole (tested in DQL), the seed two (decided from its runs).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from freshpoc_tasks.testing import RepoBuilder
from tests.integration.api.graphdata import example_files, write_history

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
ANN, BOB = "Ann Analyst <ann@example.com>", "Bob Builder <bob@example.com>"
SAMPLE_PER_TYPE = 8  # nodes of each type asked about, by xid order


class BothStores:
    """Looks like a GraphWriter to ``write_history``: every delta goes to Dgraph and to the files."""

    def __init__(self, writer: Any, local: Any) -> None:
        self.writer, self.local = writer, local

    def apply(self, delta: Any, committed_at: datetime) -> Any:
        self.local.apply(delta, committed_at, self.writer.onto)
        return self.writer.apply(delta, committed_at)


def _commits(repo: RepoBuilder, trees: list[dict[str, str]], authors: list[str]) -> list[str]:
    shas, prev = [], {}
    for n, (tree, author) in enumerate(zip(trees, authors, strict=True), 1):
        write = {p: t for p, t in tree.items() if prev.get(p) != t}
        shas.append(repo.commit(f"step {n}", author=author, write=write, date=f"2024-0{n}-01T10:00:00+00:00",
                                delete=[p for p in prev if p not in tree]))
        prev = tree
    return shas


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    from freshpoc_tasks.api.store import GraphStore
    from freshpoc_tasks.graph.local_store import LocalGraph, LocalStore
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook
    from freshpoc_tasks.testing.private import PrivateDgraph

    base = tmp_path_factory.mktemp("contract")
    local = LocalGraph()
    repos: dict[str, str] = {}
    with PrivateDgraph(base / "state") as pd, DgraphHook(pd.conn_id) as hook:
        writer = GraphWriter(hook)
        writer.ensure_schema()
        both = BothStores(writer, local)
        for name in sorted(p.name for p in (ROOT / "include" / "examples").iterdir() if p.is_dir()):
            full = example_files(name)
            if name == "jaffle_shop":
                c1 = {p: t for p, t in full.items() if not p.startswith("models/marts/customers")}
                c2 = {**full, "models/marts/orders.sql": full["models/marts/orders.sql"] + "\n-- reviewed\n"}
                c3 = {p: t for p, t in c2.items() if p != "seeds/payment_methods.csv"}
                c5 = {p: t for p, t in c3.items() if not p.startswith("models/marts/customers")}
                trees, authors = [c1, c2, c3, c2, c5, c2], [ANN, BOB, ANN, BOB, ANN, BOB]
            else:
                trees, authors = [full], [BOB]
            builder = RepoBuilder(base / f"{name}.git")
            shas = _commits(builder, trees, authors)
            repos[name] = write_history(both, builder.path, shas, base / f"w-{name}")
        # The files are read back, as `freshpoc lineage` would: the round trip is part of the contract.
        local.save(base / "graph")
        yield GraphStore(hook), LocalStore(LocalGraph.load(base / "graph")), repos


def _sample(store: Any, repo: str) -> list[str]:
    by_type: dict[str, list[str]] = {}
    for ref in store.nodes_at(repo, None, first=100_000):
        by_type.setdefault(ref["type"], []).append(ref["xid"])
    return [x for t in sorted(by_type) if t not in {"commit", "person"} for x in by_type[t][:SAMPLE_PER_TYPE]]


def test_both_stores_implement_the_questions(stores):
    from freshpoc_tasks.graph.queries import GraphQuestions

    dgraph, local, _ = stores
    assert isinstance(dgraph, GraphQuestions) and isinstance(local, GraphQuestions)


@pytest.mark.parametrize("example", ["airflow_dags", "jaffle_shop", "pulumi_datalake", "py_inventory"])
def test_same_answers(stores, example):
    from freshpoc_tasks.graph.queries import changes_page, impact

    dgraph, local, repos = stores
    repo = repos[example]
    timeline = dgraph.timeline(repo)
    assert timeline and timeline == local.timeline(repo)
    times: list[int | None] = [us for us, _ in timeline] + [None]
    asked = 0
    for at in times:
        assert dgraph.counts_by_type(repo, at) == local.counts_by_type(repo, at), at
        assert dgraph.nodes_at(repo, at, first=1000) == local.nodes_at(repo, at, first=1000), at
        assert dgraph.nodes_at(repo, at, first=7, offset=5) == local.nodes_at(repo, at, first=7, offset=5)
        listing = local.nodes_at(repo, at, first=1000)
        cursor = listing[len(listing) // 2]["xid"] if listing else ""
        window = {"first": 7, "after": cursor}
        assert dgraph.nodes_at(repo, at, **window) == local.nodes_at(repo, at, **window), cursor
    for (a, _), (b, _) in zip([(-1, ""), *timeline], timeline, strict=False):
        assert dgraph.changes(repo, a, b) == local.changes(repo, a, b), (a, b)
        # The API's paged diff (both directions; pages straddling the added/removed boundary).
        for x, y in ((a, b), (b, a)):
            whole, counts = changes_page(local, repo, x, y, 100_000, 0)
            assert (whole, counts) == changes_page(dgraph, repo, x, y, 100_000, 0), (x, y)
            for first, offset in ((3, 0), (3, max(0, counts["added"] - 1)), (2, counts["added"] + 1)):
                page = changes_page(dgraph, repo, x, y, first, offset)
                assert page == (whole[offset:offset + first], counts), (x, y, first, offset)
        assert impact(dgraph, repo, a, b) == impact(local, repo, a, b), (a, b)
    sample = _sample(local, repo)
    assert sample == _sample(dgraph, repo)
    for xid in sample:
        for at in (times[0], None):
            assert dgraph.node(xid, at) == local.node(xid, at), (xid, at)
            for question, direction, depth in (("deps", "down", 2), ("deps", "up", 2),
                                               ("lineage", "up", 3), ("lineage", "down", 3),
                                               ("defines", "down", 1)):
                d = dgraph.walk(question, xid, direction, depth, at)
                assert d == local.walk(question, xid, direction, depth, at), (xid, question, direction, at)
                asked += bool(d.nodes)
    assert dgraph.node("no:such:node") is None and local.node("no:such:node") is None
    assert asked > 0, "no walk reached anything: the comparison would prove nothing"


def _envelope_counts(dgraph: Any, repo: str, at: int) -> dict[str, int]:
    """The as-of count straight from Dgraph's envelope filter (``vf <= at < vt``), without the
    gap decision: what every as-of answer said before the gap marks."""
    from freshpoc_tasks.graph import queries as gq

    out: dict[str, int] = {}
    for block in dgraph.run_builder(gq.counts_by_type(repo, at)).get("c") or []:
        for g in block.get("@groupby", []):
            out[g["ntype"]] = int(g["count"])
    return dict(sorted(out.items()))


def _listed_counts(store: Any, repo: str, at: int) -> dict[str, int]:
    """The as-of count from the store's as-of listing (gaps decided)."""
    from collections import Counter

    return dict(sorted(Counter(r["type"] for r in store.nodes_at(repo, at, first=100_000)).items()))


@pytest.mark.parametrize("example", ["airflow_dags", "jaffle_shop", "pulumi_datalake", "py_inventory"])
def test_same_aggregates_and_the_as_of_meaning(stores, example):
    """Each commit's figures: stored by the writer in Dgraph and by the local store, equal, and
    equal to counting the graph as of the commit; ranked windows read from pages agree too."""
    dgraph, local, repos = stores
    repo = repos[example]
    for us, sha in local.timeline(repo):
        a, b = dgraph.aggregates(repo, sha), local.aggregates(repo, sha)
        assert a is not None and b is not None, sha
        assert a.summary_json() == b.summary_json(), sha
        assert a.counts_by_type == _listed_counts(dgraph, repo, us) == _listed_counts(local, repo, us), sha
        assert a.files == a.counts_by_type.get("file", 0) > 0
    assert dgraph.aggregates(repo).summary_json() == local.aggregates(repo).summary_json()
    for name in ("hotspots", "coupling"):
        for offset, limit in ((0, 5), (3, 30), (0, 500), (150, 10)):
            window = (repo, name, None, offset, limit)
            assert dgraph.ranked(*window) == local.ranked(*window), window
    assert dgraph.aggregates("no/such-repo") is None and local.aggregates("no/such-repo") is None


def test_the_history_questions_have_something_to_compare(stores):
    """Guards the comparison above against agreeing on emptiness: jaffle_shop's history shows."""
    from freshpoc_tasks.graph.queries import impact

    dgraph, local, repos = stores
    repo = repos["jaffle_shop"]
    (t1, _), (t2, _), (t3, _), *_later = local.timeline(repo)
    customers = f"dbt.model:{repo}:jaffle_shop.customers"
    assert local.node(customers, t1) is None and local.node(customers, t2)["files"] == [
        "models/marts/customers.sql"]
    assert {n["name"] for n in local.walk("lineage", customers, "up", 1, t2).nodes} == {
        "orders", "stg_customers", "customers"}
    added = impact(local, repo, t1, t2)
    assert {(n["type"], n["name"]) for n in added.added} >= {("dbt.model", "customers")}
    assert ("customers (dbt.model)", "customers (sql.table)") in added.impact_edges
    removed, _ = local.changes(repo, t3, t2)  # "added" going back = what t3 removed
    assert any(n["type"] == "dbt.seed" for n in removed)
    assert impact(dgraph, repo, t2, t3) == impact(local, repo, t2, t3)


def test_a_gap_in_history_is_absent_in_every_answer_of_both_stores(stores):
    """jaffle_shop's payment_methods seed is absent at commits 3 and 5, the customers model at 5:
    their envelopes span the holes, so before holes were recorded both stores listed them there,
    found no removal going into a hole and answered their nodes inside one."""
    from freshpoc_tasks.graph.queries import changed_nodes, changes_page

    dgraph, local, repos = stores
    repo = repos["jaffle_shop"]
    _t1, t2, t3, t4, t5, t6 = (us for us, _ in local.timeline(repo))
    seed = f"dbt.seed:{repo}:jaffle_shop.payment_methods"
    seed_file = f"file:{repo}:seeds/payment_methods.csv"
    customers = f"dbt.model:{repo}:jaffle_shop.customers"
    absent = {t3: {seed, seed_file}, t5: {seed, seed_file, customers}}
    for store in (dgraph, local):
        listed = {t: {r["xid"] for r in store.nodes_at(repo, t, first=100_000)} for t in (t2, t3, t4, t5, t6)}
        for t in (t2, t4, t6):
            assert absent[t5] <= listed[t], t
        for t, gone in absent.items():
            assert not gone & listed[t] and absent[t5] - gone <= listed[t], t
            # A page by cursor across the hole: the rows after the absent ids, none of them.
            page = store.nodes_at(repo, t, first=3, after=min(gone)[:-1])
            assert len(page) == 3 and not gone & {r["xid"] for r in page}
        assert store.node(seed, t3) is None and store.node(seed, t5) is None
        assert store.node(customers, t5) is None and store.node(customers, t4)["files"] == [
            "models/marts/customers.sql"]
        for t in (t2, t4, t6):
            assert store.node(seed, t)["files"] == ["seeds/payment_methods.csv"]
        assert store.walk("defines", seed_file, "down", 1, t3).root is None
        assert seed in {n["xid"] for n in store.walk("defines", seed_file, "down", 1, t4).nodes}
        assert store.walk("lineage", customers, "up", 1, t5).root is None
        assert store.walk("lineage", customers, "up", 1, t6).nodes
        for a, b, gone in ((t2, t3, absent[t3]), (t4, t5, absent[t5])):
            assert gone <= {r["xid"] for r in store.changes(repo, a, b)[1]}, (a, b)
        assert absent[t5] <= {r["xid"] for r in store.changes(repo, t5, t6)[0]}
        for a, b in ((t2, t4), (t2, t6), (t4, t6)):  # the same state at both ends
            assert changed_nodes(store, repo, a, b) == ([], []), (a, b)
        rows, counts = changes_page(store, repo, t5, t6, 100, 0)
        assert absent[t5] <= {r["xid"] for r in rows if r["change"] == "added"}, counts
    # What the envelope alone says at t5 (the defect the holes fix) differs from the answer.
    assert _envelope_counts(dgraph, repo, t5) != _listed_counts(dgraph, repo, t5)


def test_migrate_marks_the_gaps_of_a_graph_written_before_the_marks(stores):
    """A graph written before ontology 0.5.0 has gaps without ``vg``: the migration's
    ``mark_gaps`` finds them from the stored runs, once per applied ontology. Runs last in this
    module: it takes the marks away and must leave them as the writer wrote them."""
    from freshpoc_tasks.graph.records import ontology_xid
    from freshpoc_tasks.graph.writer import GraphWriter

    dgraph, _local, repos = stores
    hook = dgraph.runner
    writer = GraphWriter(hook)
    repo = repos["jaffle_shop"]
    t5 = dgraph.timeline(repo)[4][0]
    holed = "{ m(func: has(vs)) @filter(has(vhf) OR eq(vg, true)) { uid xid vhf vht vg vb } }"
    marked = hook.query(holed)["m"]
    assert {m["xid"] for m in marked if m.get("vg")} >= {f"dbt.seed:{repo}:jaffle_shop.payment_methods"}
    assert {m["xid"] for m in marked if "vhf" in m} >= {f"dbt.model:{repo}:jaffle_shop.customers"}
    onto_uid = hook.query("query q($x: string) { o(func: eq(xid, $x)) { uid } }",
                          {"$x": ontology_xid(writer.onto.version)})["o"][0]["uid"]
    assert writer.mark_gaps() == 0  # the writer marked them as it wrote: nothing left to mark
    hook.mutate(del_json=[{"uid": m["uid"], "vg": None, "vb": None, "vhf": None, "vht": None} for m in marked]
                + [{"uid": onto_uid, "fp_gaps_marked": None}])
    assert hook.query(holed).get("m", []) == []
    before = _listed_counts(dgraph, repo, t5)
    assert before == _envelope_counts(dgraph, repo, t5)  # no holes: the envelope's answer again
    assert writer.mark_gaps() == len(marked)
    again = hook.query(holed)["m"]
    key = lambda m: m["xid"]  # noqa: E731
    assert sorted(again, key=key) == sorted(marked, key=key)  # the same holes, the same uids
    assert writer.mark_gaps() == 0
    fifth = dgraph.aggregates(repo, dgraph.timeline(repo)[4][1])
    assert _listed_counts(dgraph, repo, t5) == fifth.counts_by_type
