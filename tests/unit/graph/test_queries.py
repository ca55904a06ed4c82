"""Query builders added for the API: text is fixed by the ontology, values only as variables."""

from __future__ import annotations

import pytest

from freshpoc_tasks.graph import queries
from freshpoc_tasks.graph.ontology import load_graph_ontology
from freshpoc_tasks.graph.validity import OPEN

ONTO = load_graph_ontology()
EVIL = '") { x as uid } delete { <*> * * . } #'


def test_traverse_mixes_directions_and_keeps_ids_as_variables():
    dql, variables = queries.traverse(ONTO, EVIL, forward=["derives_from", "nope"],
                                      backward=["materializes_as"], depth=3, at_us=7)
    assert EVIL not in dql and variables == {"$x": EVIL, "$t": 7}
    assert "@recurse(depth: 4, loop: false)" in dql
    # As of a commit, the runs of every node and edge come along for the gaps (refine_tree).
    assert ("<derives_from> @facets(le(vf, $t) AND gt(vt, $t)) @facets(vs) "
            "@filter(le(vf, $t) AND gt(vt, $t) AND NOT (le(vhf, $t) AND gt(vht, $t)))") in dql
    assert "{ uid xid ntype name vs vg " in dql
    assert "<~materializes_as> @facets(" in dql and "nope" not in dql
    now, variables = queries.traverse(ONTO, "x", forward=["calls"])
    assert variables["$t"] == OPEN - 1 and "vs" not in now and "vhf" not in now  # now: the envelope is exact


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"forward": ["nope"]}, "none of the edge types"),
    ({"forward": ["calls"], "depth": 11}, "depth must be between"),
])
def test_traverse_refuses_unknown_edges_and_deep_walks(kwargs, message):
    with pytest.raises(ValueError, match=message):
        queries.traverse(ONTO, "x", **kwargs)


def test_change_slices_read_only_the_window():
    dql, variables = queries.change_slices(EVIL, 10, 20, (5, 0), (5, 0))
    assert EVIL not in dql and {k: variables[k] for k in ("$r", "$l1", "$h", "$from", "$to")} == {
        "$r": EVIL, "$l1": 11, "$h": 20, "$from": 10, "$to": 20}
    # Candidates: where an envelope or a hole starts or ends in the window, then the exact test.
    for pred in ("vf", "vt", "vhf", "vht"):
        assert f"var(func: between({pred}, $l1, $h))" in dql
    assert "@filter(eq(repo, $r) AND NOT eq(vg, true))" in dql
    at_to = "(le(vf, $to) AND gt(vt, $to) AND NOT (le(vhf, $to) AND gt(vht, $to)))"
    at_from = "(le(vf, $from) AND gt(vt, $from) AND NOT (le(vhf, $from) AND gt(vht, $from)))"
    assert f"a as var(func: uid(c)) @filter({at_to} AND NOT {at_from})" in dql
    assert f"r as var(func: uid(c)) @filter({at_from} AND NOT {at_to})" in dql
    assert "g(func: between(vb, $l1, $h)) @filter(eq(repo, $r))" in dql
    assert "g(" not in queries.change_slices(EVIL, 10, 20, (5, 0), (5, 0), gaps=False)[0]
    # Every ordered block has its first: Dgraph gives at most 1,000 rows of one without it.
    assert "orderasc: xid, first: $fa" in dql and "orderasc: xid, first: $fr" in dql
    assert dql.count("orderasc") == 2


def _dql_changed(runs, a, b):
    """What change_slices' DQL decides for a node with these runs (at most one hole): a candidate
    (one of vf, vt, vhf, vht in (lo, hi]) that is present at b and not at a ("added") or the
    reverse ("removed"), with presence as queries._present states it."""
    from freshpoc_tasks.graph import validity as v

    vf, vt = v.envelope(runs)
    hole = v.holes(runs)
    vhf, vht = hole[0] if hole else (None, None)
    lo, hi = sorted((a, b))

    def present(t):
        return vf <= t < vt and not (vhf is not None and vhf <= t < vht)

    candidate = any(x is not None and lo < x <= hi for x in (vf, vt, vhf, vht))
    return candidate and present(b) and not present(a), candidate and present(a) and not present(b)


@pytest.mark.parametrize("seed", range(30))
def test_the_diff_in_dql_means_present_at_one_time_and_not_the_other(seed):
    """For envelopes with and without one hole, the candidate ranges and the DQL test equal the
    definition on the runs (present at b and not at a), in both directions."""
    import random

    from freshpoc_tasks.graph import validity as v

    rnd = random.Random(seed)
    times = sorted(rnd.sample(range(0, 60, 5), 4))
    runs = [((times[0], "a"), (times[1], "b"), "h")]
    if rnd.random() < 0.6:  # back later: one hole
        runs.append(((times[2], "c"), None if rnd.random() < 0.5 else (times[3], "d"), "h"))
    elif rnd.random() < 0.5:
        runs = [((times[0], "a"), None, "h")]
    for a, b in ((10, 20), (20, 10), (10, 10), (-1, 20), (0, 55), (55, 0), (15, 40), (40, 15)):
        added, removed = _dql_changed(runs, a, b)
        assert added == (v.present(runs, b) and not v.present(runs, a)), (runs, a, b)
        assert removed == (v.present(runs, a) and not v.present(runs, b)), (runs, a, b)


def test_files_page_cuts_in_dgraph_and_keeps_values_as_variables():
    dql, variables = queries.files_page(EVIL, EVIL, EVIL + "z", after=EVIL, first=5, offset=2, language=EVIL)
    assert EVIL not in dql and variables == {"$r": EVIL, "$lo": EVIL, "$hi": EVIL + "z", "$after": EVIL,
                                             "$first": 5, "$offset": 2, "$lang": EVIL}
    assert "sel as var(func: between(path, $lo, $hi))" in dql and "total(func: uid(sel))" in dql
    assert "orderasc: path, first: $first, offset: $offset) @filter(gt(path, $after))" in dql
    whole, variables = queries.files_page("r", first=50)
    # No prefix: the repository is the root and Dgraph's index sort stops at the page; no total.
    assert "items(func: eq(repo, $r), orderasc: path, first: $first" in whole and "total" not in whole
    assert "$lang" not in whole and "$lo" not in variables and "$after" not in whole


def test_commit_on_is_the_one_meaning_of_a_commit_parameter():
    """Full sha, unique prefix in any case; none, several and an empty timeline refused with a
    message that helps (the API answers 404/400 with it, the MCP tools a tool error)."""
    line = [(10, "ab12" + "0" * 36), (20, "ab34" + "1" * 36), (30, "cd56" + "2" * 36)]
    assert queries.commit_on(line, "r", line[2][1]) == (2, 30, line[2][1])
    assert queries.commit_on(line, "r", "AB3") == (1, 20, line[1][1])
    with pytest.raises(queries.AmbiguousCommit, match="names 2 processed commits in r"):
        queries.commit_on(line, "r", "ab")
    with pytest.raises(queries.CommitNotFound, match="newest processed: cd5622222222, ab3411111111"):
        queries.commit_on(line, "r", "ef")
    with pytest.raises(queries.CommitNotFound, match="has none in the graph"):
        queries.commit_on([], "r", "ab")


def test_change_slices_send_every_value_as_a_variable_and_read_only_asked_windows():
    dql, variables = queries.change_slices(EVIL, 10, 20, (5, 3), (0, 0), [EVIL, "commit"])
    assert EVIL not in dql and variables["$r"] == EVIL
    assert sorted([variables["$s0"], variables["$s1"]]) == sorted([EVIL, "commit"])
    assert "added(func: uid(a), orderasc: xid, first: $fa, offset: $oa)" in dql and "removed(" not in dql
    assert (variables["$fa"], variables["$oa"], variables["$l1"], variables["$h"]) == (5, 3, 11, 20)
    assert "na(func: uid(a)) { count(uid) }" in dql and "nr(func: uid(r)) { count(uid) }" in dql
    _, back = queries.change_slices("r", 20, 10, (1, 0), (1, 0))
    # Backwards: the window is the same range, from and to swap.
    assert (back["$l1"], back["$h"], back["$from"], back["$to"]) == (11, 20, 20, 10)


def _gap_row(xid, *runs):
    from freshpoc_tasks.graph import validity as v

    return {"xid": xid, "ntype": "file", "name": xid, "vg": True,
            "vs": v.encode([((a, "x"), None if b is None else (b, "y"), "h") for a, b in runs])}


def test_gap_changes_decide_from_the_runs_both_ways():
    rows = [_gap_row("b", (10, 20), (30, None)), _gap_row("a", (10, 20), (30, 40)),
            _gap_row("c", (5, 15), (25, None))]
    # 15 -> 35: a and b present at both (no change); c's first run ends at 15, its second
    # starts at 25: absent at 15, present at 35.
    assert queries.gap_changes(rows, 15, 35) == ([rows[2]], [])
    added, removed = queries.gap_changes(rows, 12, 22)  # all three in a hole at 22
    assert added == [] and [r["xid"] for r in removed] == ["a", "b", "c"]
    added, removed = queries.gap_changes(rows, 22, 12)
    assert [r["xid"] for r in added] == ["a", "b", "c"] and removed == []
    assert queries.gap_changes(rows, 35, 45) == ([], [rows[1]])


@pytest.mark.parametrize("seed", range(40))
def test_merge_window_equals_merging_whole_lists(seed):
    """One window of a paged list merged with a few rows equals slicing the merged whole list."""
    import random

    rnd = random.Random(seed)
    names = rnd.sample([f"x{i:03d}" for i in range(200)], rnd.randint(0, 60))
    cut = rnd.randint(0, len(names))
    paged = sorted(({"xid": x} for x in names[:cut]), key=lambda r: r["xid"])
    extra = sorted(({"xid": x} for x in names[cut:]), key=lambda r: r["xid"])
    whole = sorted([*paged, *extra], key=lambda r: r["xid"])
    for first, offset in ((5, 0), (3, rnd.randint(0, 70)), (50, rnd.randint(0, 10)), (0, 4), (1, len(whole))):
        (want, start), merge = queries.merge_window(extra, first, offset)
        read = paged[start:start + want] if want > 0 else []
        assert merge(read) == whole[offset:offset + first], (first, offset, len(paged), len(extra))


def test_refine_tree_cuts_what_a_gap_hides_and_what_is_reached_through_it():
    from freshpoc_tasks.graph import validity as v

    one = v.encode([((10, "x"), None, "h")])
    holed = v.encode([((10, "x"), (20, "y"), "h"), ((30, "z"), None, "h")])
    tree = {"xid": "root", "vs": one,
            "calls": [{"xid": "gone", "vs": holed, "vg": True, "calls|vs": one,
                       "calls": [{"xid": "behind", "vs": one, "calls|vs": one}]},
                      {"xid": "kept", "vs": one, "calls|vs": one},
                      {"xid": "edge-gone", "vs": one, "calls|vs": holed}],
            "~reads": [{"xid": "back", "vs": one, "~reads|vs": one}]}
    at25 = queries.refine_tree(tree, 25)
    assert queries.flatten(at25) == {"root", "kept", "back"}
    assert queries.flatten(queries.refine_tree(tree, 35)) == queries.flatten(tree)
    assert queries.refine_tree({"xid": "n", "vs": holed, "vg": True}, 25) is None
    # Unmarked node runs are not decoded (no gap by the writer's mark): the envelope is exact.
    assert queries.refine_tree({"xid": "n", "vs": holed}, 25) == {"xid": "n", "vs": holed}
