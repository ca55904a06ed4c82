"""The MCP backend on a laptop: the output folder of ``freshpoc report``, no server.

The graph's questions go to :class:`~freshpoc_tasks.graph.local_store.LocalStore` (the same
:class:`~freshpoc_tasks.graph.queries.GraphQuestions` the stack's Dgraph store implements). What
needs a server says so in one sentence: saved DQL queries need Dgraph, semantic search needs
Weaviate (locally ``search`` matches ids, keys, names and paths exactly, as ``freshpoc node``
does). The reports are the ones ``freshpoc report`` wrote next to the graph.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from freshpoc_tasks.graph.local_store import STATE_FILE, LocalStore
from freshpoc_tasks.graph.queries import changed_nodes
from freshpoc_tasks.mcp.answers import ToolProblem, Unavailable, commit_on

NEEDS_STACK = "on the stack's MCP endpoint (/freshpoc/mcp); a local graph from 'freshpoc report' has no {}"


class LocalBackend:
    """:class:`~freshpoc_tasks.mcp.answers.Backend` over a report folder."""

    kind = "local"

    def __init__(self, folder: str | Path) -> None:
        folder = Path(folder)
        self.store = LocalStore.open(folder)
        # The report folder: DIR itself, or the parent of DIR/graph.
        self.folder = folder.parent if (folder / STATE_FILE).is_file() and folder.name == "graph" else folder

    def repositories(self) -> list[str]:
        return sorted(self.store.graph.timelines)

    def _repo(self, repo: str) -> None:
        if repo not in self.store.graph.timelines:
            held = ", ".join(self.repositories())
            raise ToolProblem(f"no repository {repo!r} in this graph; it holds: {held}")

    def search(self, query: str, repo: str | None, node_type: str | None, limit: int) -> list[dict[str, Any]]:
        hits = []
        for ref in self.store.find(query, limit=500):
            node = self.store.node(ref["xid"]) or {}
            if repo and node.get("repo") not in (repo, None):
                continue
            if node_type and ref.get("type") != node_type:
                continue
            hits.append({"xid": ref["xid"], "type": ref.get("type"), "name": ref.get("name"),
                         "repo": node.get("repo"), "path": node.get("path"), "files": node.get("files", [])})
        return hits[:limit]

    def hotspots(self, repo: str, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
        found = self.store.ranked(repo, "hotspots", None, offset, limit)
        if found is None:
            raise Unavailable(f"{self.folder} was reported before hotspots were stored with each commit: "
                              "run 'freshpoc report' on the repository again")
        return found

    def diff(self, repo: str, from_commit: str,
             to_commit: str) -> tuple[str, str, list[dict[str, Any]], list[dict[str, Any]]]:
        """The API's diff question over the local store: both commits resolved on the timeline,
        history nodes left out (``graph.queries.changed_nodes``)."""
        (ia, ua, sa), (ib, ub, sb) = self.commit(repo, from_commit), self.commit(repo, to_commit)
        if ia > ib:
            raise ToolProblem("from_commit must not be newer than to_commit")
        added, removed = changed_nodes(self.store, repo, ua, ub)
        return sa, sb, added, removed

    def commit(self, repo: str, sha: str) -> tuple[int, int, str]:
        return commit_on(self.store, repo, sha)

    def owners(self, repo: str, path: str, xid: str | None, offset: int,
               limit: int) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        raise Unavailable("owners are answered " + NEEDS_STACK.format("owner listing yet") + "; its "
                          "report.md has the owners per folder (read the repository report resource)")

    def file_owner(self, repo: str, path: str) -> str | None:
        """The file node's mined main author, as ``freshpoc report``'s impact report reads it."""
        from freshpoc_tasks.contracts.graph import node_id

        return self.store.graph.nodes.get(node_id("file", repo, path), {}).get("main_author")

    def saved_queries(self) -> list[dict[str, Any]]:
        raise Unavailable("saved queries are DQL and run " + NEEDS_STACK.format("Dgraph"))

    def run_saved_query(self, name: str, params: dict[str, str]) -> dict[str, Any]:
        raise Unavailable("saved queries are DQL and run " + NEEDS_STACK.format("Dgraph"))

    def _report(self, name: str, repo: str) -> str:
        self._repo(repo)
        path = self.folder / f"{name}.md"
        if not path.is_file():
            hint = " (run 'freshpoc report REPO --since REF')" if name == "impact" else ""
            raise ToolProblem(f"no {name}.md in {self.folder}{hint}")
        text = path.read_text(encoding="utf-8")
        if repo not in text.split("\n", 1)[0]:
            raise ToolProblem(f"{path} is the {name} report of another repository")
        return text

    def repository_report(self, repo: str) -> str:
        return self._report("report", repo)

    def impact_report(self, repo: str, commit: str) -> str:
        text = self._report("impact", repo)
        if commit.lower() not in text[:500].lower():
            raise ToolProblem(f"{self.folder}/impact.md is not the impact report of {commit}")
        return text
