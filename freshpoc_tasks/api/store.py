"""Saved DQL queries (``include/queries/*.dql``) and the one way the API runs them.

A query's parameters are whatever its GraphQL-variable declaration says; values are checked
against the declared type here and handed to Dgraph as variables, so user input never becomes
query text. Graph results are turned into plain Python values (flattened recursion, first type)
so routes and reports do not each re-learn Dgraph's JSON shapes.

``run_builder`` runs a ``(dql, variables)`` pair from :mod:`freshpoc_tasks.graph.queries` the
same way (traversals, as-of, diffs): those builders also keep every user value a variable.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from freshpoc_tasks.graph.queries import Traversal

QUERIES_DIR = Path(os.environ.get("FRESHPOC_QUERIES_DIR",
                                  Path(__file__).resolve().parents[2] / "include" / "queries"))
_DECL = re.compile(r"^\s*query\s+(\w+)\s*\(([^)]*)\)", re.M)
_PARAM = re.compile(r"\$(\w+)\s*:\s*(\w+)")
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
# Upper bound for prefix ranges: sorts after any character a path, sha or name can hold.
HIGH = "\U0010ffff"
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
# Parameters the server computes from others (range bounds); users never send them.
DERIVED = {"path_lo", "path_hi", "lang_lo", "lang_hi", "sha_lo", "sha_hi"}


class QueryRunner(Protocol):
    def query(self, dql: str, variables: dict[str, Any] | None = None) -> dict[str, Any]: ...


class ParamError(ValueError):
    """A parameter is missing, unknown or not of its declared type (answered with 400)."""


@dataclass(frozen=True)
class SavedQuery:
    name: str
    description: str
    params: dict[str, str]  # name -> DQL type (string, int, float, bool)
    text: str

    def variables(self, values: dict[str, Any]) -> dict[str, str]:
        unknown = sorted(set(values) - set(self.params))
        if unknown:
            raise ParamError(f"unknown parameter(s) for {self.name}: {', '.join(unknown)}")
        missing = sorted(set(self.params) - set(values))
        if missing:
            raise ParamError(f"missing parameter(s) for {self.name}: {', '.join(missing)}")
        return {f"${k}": _convert(k, self.params[k], v) for k, v in values.items()}


def _convert(name: str, type_: str, value: Any) -> str:
    if type_ == "int":
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name} must be an integer") from None
        if not INT_MIN <= number <= INT_MAX:
            raise ParamError(f"parameter {name} is out of range")
        return str(number)
    if type_ == "float":
        try:
            return repr(float(value))
        except (TypeError, ValueError):
            raise ParamError(f"parameter {name} must be a number") from None
    if type_ == "bool":
        if str(value).lower() not in {"true", "false"}:
            raise ParamError(f"parameter {name} must be true or false")
        return str(value).lower()
    text = str(value)
    if "\x00" in text:  # Dgraph rejects NUL in variables; say so instead of failing
        raise ParamError(f"parameter {name} must not contain NUL characters")
    return text


def parse_saved_query(path: Path) -> SavedQuery:
    text = path.read_text(encoding="utf-8")
    decl = _DECL.search(text)
    if decl is None or decl.group(1) != path.stem or not _NAME.match(path.stem):
        raise ValueError(f"{path}: must declare 'query {path.stem}(...)' with a snake_case name")
    description = " ".join(line.lstrip("# ").strip() for line in text.splitlines()
                           if line.startswith("#")).strip()
    params = dict(_PARAM.findall(decl.group(2)))
    for name, type_ in params.items():
        if type_ not in {"string", "int", "float", "bool"}:
            raise ValueError(f"{path}: parameter ${name} has unsupported type {type_}")
    return SavedQuery(path.stem, description, params, text)


@lru_cache(maxsize=4)
def load_saved_queries(folder: Path = QUERIES_DIR) -> dict[str, SavedQuery]:
    return {p.stem: parse_saved_query(p) for p in sorted(Path(folder).glob("*.dql"))}


def prefix_range(prefix: str) -> tuple[str, str]:
    """``[lo, hi)`` covering every string that starts with ``prefix`` (all strings for "")."""
    return prefix, prefix + HIGH


def first_type(node: dict[str, Any]) -> str | None:
    """The node's ontology type: ``ntype`` as the writer stores it (``type`` for older callers)."""
    t = node.get("ntype", node.get("type"))
    if isinstance(t, list):
        return t[0] if t else None
    return t


def flatten_recursion(root: dict[str, Any] | None) -> Traversal:
    """Turn ``@recurse`` output into nodes (with their hop distance) and real-direction edges.

    A reverse predicate ``~p`` walked from A to B is the stored edge B -p-> A; edges are reported
    as stored so "up" and "down" answers use the same vocabulary.
    """
    if not root:
        return Traversal(None, [], [])
    depth_of: dict[str, int] = {}
    info: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], None] = {}
    stack: list[tuple[dict[str, Any], int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        xid = node.get("xid")
        if xid is None:
            continue
        if xid not in depth_of or depth < depth_of[xid]:
            depth_of[xid] = depth
        info.setdefault(xid, {"xid": xid, "type": first_type(node), "name": node.get("name")})
        for key, value in node.items():
            if not isinstance(value, list) or not value or not isinstance(value[0], dict):
                continue
            reverse = key.startswith("~")
            pred = key.lstrip("~")
            for child in value:
                cx = child.get("xid")
                if cx is None:
                    continue
                edges.setdefault((pred, cx, xid) if reverse else (pred, xid, cx), None)
                stack.append((child, depth + 1))
    root_xid = root.get("xid")
    nodes = sorted(({**info[x], "depth": d} for x, d in depth_of.items() if x != root_xid),
                   key=lambda n: (n["depth"], n["xid"]))
    return Traversal(info.get(root_xid), nodes,
                     [{"type": t, "src": s, "dst": d} for t, s, d in sorted(edges)])


class GraphStore:
    """Runs saved queries through a runner (``DgraphHook`` in Airflow, anything with ``query``),
    and answers the graph's questions (:class:`freshpoc_tasks.graph.queries.GraphQuestions`)
    from Dgraph through the ``graph.queries`` builders — the embedded
    :class:`~freshpoc_tasks.graph.local_store.LocalStore` answers the same ones from files."""

    def __init__(self, runner: QueryRunner, queries: dict[str, SavedQuery] | None = None) -> None:
        self.runner = runner
        self.queries = queries if queries is not None else load_saved_queries()
        self._ontology: Any = None

    def run(self, query_name: str, /, **values: Any) -> dict[str, Any]:
        try:
            saved = self.queries[query_name]
        except KeyError:
            raise ParamError(f"no saved query named {query_name!r}") from None
        return self.runner.query(saved.text, saved.variables(values))

    def run_builder(self, query: tuple[str, dict[str, Any]]) -> dict[str, Any]:
        dql, variables = query
        values = {k: str(v) for k, v in variables.items()}
        if any("\x00" in v for v in values.values()):  # Dgraph rejects NUL: a 400, not a 503
            raise ParamError("parameters must not contain NUL characters")
        return self.runner.query(dql, values)

    def ontology(self) -> Any:
        from freshpoc_tasks.graph.ontology import load_graph_ontology

        if self._ontology is None:
            self._ontology = load_graph_ontology()
        return self._ontology

    # The graph's questions (GraphQuestions) ------------------------------------------------------
    def node(self, xid: str, at_us: int | None = None) -> dict[str, Any] | None:
        from freshpoc_tasks.graph import queries as gq

        rows = self.run_builder(gq.node_detail(xid, at_us)).get("n", [])
        found = gq.refine_tree(rows[0], gq._t(at_us)) if rows else None
        if found is None:
            return None
        return gq.node_answer(found, (f["path"] for f in found.get("defined_in", []) if "path" in f))

    def walk(self, question: str, xid: str, direction: str, depth: int,
             at_us: int | None = None) -> Traversal:
        from freshpoc_tasks.graph import queries as gq

        forward, backward = gq.walk_edges(question, direction)
        rows = self.run_builder(gq.traverse(self.ontology(), xid, forward=forward, backward=backward,
                                            depth=depth, at_us=at_us)).get("n", [])
        root = rows[0] if rows else None
        return flatten_recursion(root if at_us is None else gq.refine_tree(root, int(at_us)))

    def timeline(self, repo_id: str) -> list[tuple[int, str]]:
        from freshpoc_tasks.graph import queries as gq
        from freshpoc_tasks.graph.validity import decode_timeline

        rows = self.run_builder(gq.commit_time(repo_id)).get("s", [])
        return [(int(us), sha) for us, sha in decode_timeline(rows[0].get("fp_timeline"))] if rows else []

    def aggregates(self, repo_id: str, commit: str | None = None) -> Any:
        """The stored figures of a processed commit (the newest when None): two lookups by xid
        (the timeline's newest point, then its figures), ``graph.aggregates.Aggregates`` or None
        (a commit written before ontology 0.4.0). Not one request ordering the repository's
        figures by time: that read every summary of the newest commits (111 kB at 111k nodes)
        to keep one, 8 ms of each overview, list and report call."""
        from freshpoc_tasks.graph import queries as gq
        from freshpoc_tasks.graph.aggregates import Aggregates

        if commit is None:
            timeline = self.timeline(repo_id)
            if not timeline:
                return None
            commit = timeline[-1][1]
        rows = self.run_builder(gq.aggregates_of(repo_id, commit)).get("a") or []
        return Aggregates.from_json(rows[0]["fp_aggregates"]) if rows else None

    def ranked(self, repo_id: str, name: str, commit: str | None = None, offset: int = 0,
               limit: int = 50) -> tuple[list[dict[str, Any]], int] | None:

        from freshpoc_tasks.graph import aggregates as ag

        agg = self.aggregates(repo_id, commit)
        if agg is None:
            return None
        return ag.ranked_window(agg, name, offset, limit, self._page_reader(repo_id, agg.commit))

    def _page_reader(self, repo_id: str, commit: str) -> Callable[[str, list[int]], dict[int, list[Any]]]:
        import json

        from freshpoc_tasks.graph import queries as gq

        def read(list_name: str, indexes: list[int]) -> dict[int, list[Any]]:
            found = self.run_builder(gq.aggregate_pages(repo_id, commit, list_name, indexes))
            return {n: json.loads(found[f"p{i}"][0]["fp_items"]) if found.get(f"p{i}") else []
                    for i, n in enumerate(indexes)}

        return read

    def report_edges(self, repo_id: str,
                     commit: str | None = None) -> dict[str, list[tuple[str, str]]] | None:
        from freshpoc_tasks.graph import aggregates as ag

        agg = self.aggregates(repo_id, commit)
        if agg is None:
            return None
        read = self._page_reader(repo_id, agg.commit)
        return {name: [tuple(e) for e in ag.all_items(agg, name, read)] for name in ag.EDGE_LISTS}

    def counts_by_type(self, repo_id: str, at_us: int | None = None) -> dict[str, int]:
        from freshpoc_tasks.graph import queries as gq

        counts = gq.counts_as_of(self, repo_id, at_us)
        if counts is not None:
            return counts
        # A commit written before ontology 0.4.0 has no aggregates: count its envelope.
        out: dict[str, int] = {}
        for block in self.run_builder(gq.counts_by_type(repo_id, at_us)).get("c") or []:
            for g in block.get("@groupby", []):
                if g.get("ntype") is not None:
                    out[str(g["ntype"])] = int(g.get("count", 0))
        return dict(sorted(out.items()))

    def nodes_at(self, repo_id: str, at_us: int | None = None, first: int = 1000,
                 offset: int = 0, after: str = "") -> list[dict[str, Any]]:
        from freshpoc_tasks.graph import queries as gq

        if at_us is None:  # the current graph: the envelope is exact
            rows = self.run_builder(gq.nodes_of_repo(repo_id, first=first, offset=offset, after=after))
            return [_ref(x) for x in rows.get("n", [])]
        # As of a commit, a node with more than one hole (vg; one hole is tested in DQL) may be
        # absent: pages are read by cursor until ``offset`` present rows are passed and ``first``
        # gathered.
        out: list[dict[str, Any]] = []
        skip, cursor = offset, after
        while len(out) < first:
            want = first - len(out) + skip
            page = self.run_builder(gq.nodes_of_repo(repo_id, at_us=at_us, first=want,
                                                     after=cursor)).get("n", [])
            for x in page:
                if not gq.present_at(x, int(at_us)):
                    continue
                if skip:
                    skip -= 1
                elif len(out) < first:
                    out.append(_ref(x))
            if len(page) < want:
                break
            cursor = page[-1]["xid"]
        return out

    def changes(self, repo_id: str, from_us: int,
                to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        # Counted, then read with ``first`` set to the counts: Dgraph returns at most 1,000 rows of
        # an ordered block without ``first`` (measured: 1,000 of 86,201), so the whole lists are
        # never asked for without one.
        counts = self.change_slices(repo_id, from_us, to_us, (0, 0), (0, 0))[2]
        added, removed, _ = self.change_slices(repo_id, from_us, to_us, (counts["added"], 0),
                                               (counts["removed"], 0))
        return added, removed

    def change_slices(self, repo_id: str, from_us: int, to_us: int, added: tuple[int, int],
                      removed: tuple[int, int], skip_types: Iterable[str] = (),
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, int]]:
        from freshpoc_tasks.graph import queries as gq

        d = self.run_builder(gq.change_slices(repo_id, from_us, to_us, added, removed, skip_types))
        counts = {side: int(rows[0].get("count", 0)) if rows else 0
                  for side, rows in (("added", d.get("na")), ("removed", d.get("nr")))}
        # Nodes with more than one hole come apart with their runs: decided here, and when any
        # changed, merged into both lists (a second read of the windows they shift).
        gap_added, gap_removed = gq.gap_changes(d.get("g") or [], from_us, to_us)
        if gap_added or gap_removed:
            (wa, merge_a), (wr, merge_r) = (gq.merge_window(gap_added, *added),
                                            gq.merge_window(gap_removed, *removed))
            again = self.run_builder(gq.change_slices(repo_id, from_us, to_us, wa, wr, skip_types,
                                                      gaps=False))
            d = {"added": merge_a(again.get("added", [])), "removed": merge_r(again.get("removed", []))}
            counts = {"added": counts["added"] + len(gap_added),
                      "removed": counts["removed"] + len(gap_removed)}
        return [_ref(x) for x in d.get("added", [])], [_ref(x) for x in d.get("removed", [])], counts


def _ref(x: dict[str, Any]) -> dict[str, Any]:
    return {"xid": x["xid"], "type": first_type(x), "name": x.get("name")}


RunnerFactory = Callable[[], QueryRunner]


def default_runner_factory() -> QueryRunner:
    """A DgraphHook on the ``freshpoc_dgraph`` connection, created once per API process."""
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    return DgraphHook()


def unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))
