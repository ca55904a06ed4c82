"""What each MCP tool answers, independent of the MCP SDK and of where the graph is.

The graph's questions — a node, dependency and lineage walks, the changes between two commits,
the impact of a change — go through :class:`~freshpoc_tasks.graph.queries.GraphQuestions` (and
:func:`~freshpoc_tasks.graph.queries.impact`), which both the stack's Dgraph store and the local
store of ``freshpoc report`` implement: the HTTP server and ``freshpoc mcp --graph DIR`` give the
same answer to the same question because it is the same code over the same interface. What only
one store can answer (saved DQL queries, semantic search, the hotspot and owner listings the
API's routes compute) is asked of a :class:`Backend`: on the stack, the API's own route functions
(:mod:`freshpoc_tasks.mcp.stack`); locally, the report folder (:mod:`freshpoc_tasks.mcp.local`).

Every answer is a JSON object bounded by :mod:`freshpoc_tasks.mcp.paging`. Errors a model can act
on (no such node, a commit prefix that names two commits, a tool the local graph cannot answer)
are :class:`ToolProblem` with a sentence that says what to do next.
"""

from __future__ import annotations

from typing import Any, Protocol

from freshpoc_tasks.graph.queries import AmbiguousCommit, CommitNotFound, GraphQuestions, impact
from freshpoc_tasks.graph.queries import commit_on as resolve_commit
from freshpoc_tasks.mcp.paging import check_limit, decode_cursor, page, page_window

DIRECTIONS = ("up", "down")


class ToolProblem(Exception):
    """An answer the caller can act on instead of a result (the tool call reports it as an error)."""


class Unavailable(ToolProblem):
    """This store cannot answer the question (e.g. saved DQL queries on a local graph)."""


class Backend(Protocol):
    """The questions one store answers its own way; everything else goes through ``store``."""

    kind: str  # "stack" or "local"
    store: GraphQuestions

    def repositories(self) -> list[str]: ...

    def search(self, query: str, repo: str | None, node_type: str | None,
               limit: int) -> list[dict[str, Any]]: ...

    def hotspots(self, repo: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]: ...

    def owners(self, repo: str, path: str, xid: str | None, offset: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        """(subject and its own owner, a window of the files under it, how many files)."""
        ...

    def file_owner(self, repo: str, path: str) -> str | None:
        """Main author of one of the repository's files (its mined history)."""
        ...

    def diff(self, repo: str, from_commit: str,
             to_commit: str) -> tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]:
        """(full from sha, full to sha, added refs, removed refs), commit nodes left out."""
        ...

    def saved_queries(self) -> list[dict[str, Any]]: ...

    def run_saved_query(self, name: str, params: dict[str, str]) -> dict[str, Any]: ...

    def repository_report(self, repo: str) -> str: ...

    def impact_report(self, repo: str, commit: str) -> str: ...


def _check_direction(direction: str) -> str:
    if direction not in DIRECTIONS:
        raise ToolProblem("direction must be 'up' or 'down'")
    return direction


def commit_on(store: GraphQuestions, repo: str, sha: str) -> tuple[int, int, str]:
    """(position on the timeline from 0, commit time in µs, full sha): ``graph.queries.commit_on``
    on the store's timeline, its refusals as tool problems."""
    try:
        return resolve_commit(store.timeline(repo), repo, sha)
    except (CommitNotFound, AmbiguousCommit) as exc:
        raise ToolProblem(str(exc)) from None


class GraphTools:
    """The tools' answers over one backend. Methods return JSON-ready dicts."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.store = backend.store

    # Walks and nodes (GraphQuestions) -----------------------------------------------------------
    def node(self, xid: str) -> dict[str, Any]:
        found = self.store.node(xid)
        if found is None:
            raise ToolProblem(f"no node {xid!r} in the graph now; find ids with the search tool")
        return found

    def walk(self, question: str, xid: str, direction: str, depth: int, limit: int,
             cursor: str | None) -> dict[str, Any]:
        """A dependency or lineage walk: the reached nodes by hop distance, paged; each page carries
        the stored edges that touch its nodes (as stored: ``src -type-> dst``)."""
        _check_direction(direction)
        check_limit(limit)
        try:
            t = self.store.walk(question, xid, direction, depth)
        except ValueError as exc:
            raise ToolProblem(str(exc)) from None
        if t.root is None:
            raise ToolProblem(f"no node {xid!r} in the graph now; find ids with the search tool")

        def shell(nodes: list[dict[str, Any]]) -> dict[str, Any]:
            ids = {n["xid"] for n in nodes}
            return {"root": t.root, "question": question, "direction": direction, "depth": depth,
                    "nodes": nodes, "edges": [e for e in t.edges if e["src"] in ids or e["dst"] in ids]}

        return _renamed(page(t.nodes, cursor, limit, shell), "nodes")

    # Commits -------------------------------------------------------------------------------------
    def commit(self, repo: str, sha: str) -> tuple[int, int, str]:
        return commit_on(self.store, repo, sha)

    def graph_diff(self, repo: str, from_commit: str, to_commit: str, limit: int,
                   cursor: str | None) -> dict[str, Any]:
        """Nodes added and removed between two processed commits, as one paged list of
        ``{change, xid, type, name}`` (the API's diff on the stack, the same question locally)."""
        check_limit(limit)
        sa, sb, added, removed = self.backend.diff(repo, from_commit, to_commit)
        rows = [{"change": "added", **x} for x in added] + [{"change": "removed", **x} for x in removed]
        counts = {"added": len(added), "removed": len(removed)}
        return _renamed(page(rows, cursor, limit, lambda xs: {
            "repo": repo, "from_commit": sa, "to_commit": sb, "counts": counts, "changes": xs}), "changes")

    # Impact ----------------------------------------------------------------------------------------
    def impact(self, repo: str, commit: str | None, changed: list[str] | None, limit: int,
               cursor: str | None) -> dict[str, Any]:
        """What a change reaches: lineage downstream and dependants, three hops, as the impact
        report asks it (:func:`graph.queries.impact`), with the owners of each affected node.

        ``commit``: the change a processed commit made (against its parent on the timeline).
        ``changed``: node ids or file paths of the repository, taken as changed now; a file
        stands for the nodes defined in it."""
        check_limit(limit)
        if bool(commit) == bool(changed):
            raise ToolProblem("give either commit (a processed commit) or changed (node ids or file paths)")
        if commit:
            i, at, sha = self.commit(repo, commit)
            points = self.store.timeline(repo)
            before = points[i - 1][0] if i else -1  # nothing of the repository is valid before it
            found = impact(self.store, repo, before, at)
            subject: dict[str, Any] = {"commit": sha, "parent": points[i - 1][1] if i else None}
        else:
            refs, unknown = self._changed_nodes(repo, changed or [])
            if unknown:
                raise ToolProblem(f"not in {repo} now: {', '.join(unknown[:10])}; give node ids (search "
                                  "finds them) or file paths relative to the repository root")
            found = impact(_Given(self.store, refs), repo, -1, None)  # type: ignore[arg-type]
            subject = {"changed": [r["xid"] for r in refs]}
        offset = decode_cursor(cursor)
        file_owners: dict[str, str | None] = {}  # affected nodes share files: one lookup per file
        window = [{**a, "owners": self.owners_of(repo, a["xid"], file_owners)}
                  for a in found.affected[offset: offset + limit]]
        if commit:  # what the commit changed; with ``changed`` the caller said it
            subject.update(added=[_short(x) for x in found.added[:50]], added_total=len(found.added),
                           removed=[_short(x) for x in found.removed[:50]], removed_total=len(found.removed))
        return _renamed(page_window(window, offset, len(found.affected), lambda xs: {
            "repo": repo, **subject, "impact_edges": [list(e) for e in found.impact_edges[:100]],
            "affected": xs}), "affected")

    def owners_of(self, repo: str, xid: str, known: dict[str, str | None] | None = None) -> list[str]:
        """Main authors of the files the node is defined in, now or, for a removed node, never
        (the same on both stores: files from ``GraphQuestions.node``, authors from the mined
        history of each file). ``known`` caches file -> owner across the calls of one answer."""
        info = self.store.node(xid) or {}
        known = {} if known is None else known
        for f in info.get("files", []):
            if f not in known:
                known[f] = self.backend.file_owner(repo, f)
        return sorted({o for f in info.get("files", []) if (o := known[f])})

    def _changed_nodes(self, repo: str, changed: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """Node refs for ids and file paths; a file is the nodes defined in it (and the file when
        nothing is, which impact then skips)."""
        refs: dict[str, dict[str, Any]] = {}
        unknown = []
        for item in dict.fromkeys(changed):
            node = self.store.node(item)
            if node is None and not item.startswith("file:"):
                node = self.store.node(f"file:{repo}:{item.lstrip('./')}")
            if node is None:
                unknown.append(item)
                continue
            if node.get("type") == "file":
                for inner in self._defined_in(node["xid"]):
                    refs.setdefault(inner["xid"], inner)
            refs.setdefault(node["xid"], {k: node.get(k) for k in ("xid", "type", "name")})
        return sorted(refs.values(), key=lambda r: r["xid"]), unknown

    def _defined_in(self, file_xid: str) -> list[dict[str, Any]]:
        """Nodes defined in a file, when the stores can walk that way (``graph.queries.WALKS``)."""
        try:
            return self.store.walk("defines", file_xid, "down", 1).nodes
        except ValueError:
            return []

    # Backend listings ------------------------------------------------------------------------------
    def search(self, query: str, repo: str | None, node_type: str | None, limit: int) -> dict[str, Any]:
        if not 1 <= limit <= 50:
            raise ToolProblem("limit must be between 1 and 50")
        hits = self.backend.search(query, repo, node_type, limit)
        answer = page_window(hits, 0, len(hits), lambda xs: {"query": query, "items": xs})
        # Search has no cursor (a new question is cheaper than a page of an old one): what did
        # not fit is counted, not promised.
        answer["omitted"] = len(hits) - len(answer["items"])
        answer.pop("more")
        answer.pop("offset")
        return answer

    def hotspots(self, repo: str, limit: int, cursor: str | None) -> dict[str, Any]:
        """The newest commit's ranked hotspot list the writer stored with it (the API's route on
        the stack, ``GraphQuestions.ranked`` locally: the same list)."""
        offset = decode_cursor(cursor)
        if not self.store.timeline(repo):
            raise ToolProblem(f"no repository {repo!r} in the graph; the repositories resource lists them")
        rows, total = self.backend.hotspots(repo, offset, check_limit(limit))
        return page_window(list(rows), offset, total, lambda xs: {"repo": repo, "items": xs})

    def owners(self, repo: str, path: str, xid: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
        offset = decode_cursor(cursor)
        head, files, total = self.backend.owners(repo, path, xid, offset, check_limit(limit))
        return _renamed(page_window(files, offset, total, lambda xs: {**head, "files": xs}), "files")

    def run_saved_query(self, name: str | None, params: dict[str, str] | None, limit: int,
                        cursor: str | None) -> dict[str, Any]:
        """A saved query's blocks, their rows paged as one list; without a name, the catalogue."""
        if not name:
            return {"queries": self.backend.saved_queries()}
        answer = self.backend.run_saved_query(name, {k: str(v) for k, v in (params or {}).items()})
        rows = [(block, row) for block, value in answer.items() if isinstance(value, list) for row in value]
        scalars = {k: v for k, v in answer.items() if not isinstance(v, list)}

        def shell(xs: list[tuple[str, Any]]) -> dict[str, Any]:
            blocks: dict[str, list[Any]] = {k: [] for k, v in answer.items() if isinstance(v, list)}
            for block, row in xs:
                blocks[block].append(row)
            return {"query": name, **scalars, "blocks": blocks}

        return _renamed(page(rows, cursor, limit, shell), "rows")


class _Given:
    """A store whose ``changes`` are the given nodes, added now: lets :func:`graph.queries.impact`
    answer "what do these nodes reach" with its own walks and filters."""

    def __init__(self, store: GraphQuestions, refs: list[dict[str, Any]]) -> None:
        self._store, self._refs = store, refs

    def changes(self, repo_id: str, from_us: int,
                to_us: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        return list(self._refs), []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def _short(x: dict[str, Any]) -> dict[str, Any]:
    return {k: x.get(k) for k in ("xid", "type", "name")}


def _renamed(answer: dict[str, Any], what: str) -> dict[str, Any]:
    """``total`` says what it counts (``total_nodes``...), so a model does not read it as the size
    of the whole answer."""
    answer[f"total_{what}"] = answer.pop("total")
    return answer
