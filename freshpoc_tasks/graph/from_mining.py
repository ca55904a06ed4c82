"""Mining records (``mine.jsonl.gz``) as a graph delta: the repository's tree, history and metrics.

The tree (repository -> folders -> files, ``contains``) is state: it is closed when a later
commit no longer has a path. Commits, their authors, parents and the files they modified are
history: facts that stay true. File and folder metrics (revisions, churn, owners, bus factor,
hotspot score) are properties, so a change in them shows up in the per-commit diff; the age of
a file is left out on purpose, as it changes at every commit without anything happening.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from freshpoc_tasks.contracts.base import Contract
from freshpoc_tasks.contracts.graph import Edge, GraphDelta, Node, node_id
from freshpoc_tasks.contracts.mining import (
    CommitRecord,
    Coupling,
    FileHistory,
    FileRecord,
    FolderStats,
    Hotspot,
    RepoSnapshot,
)

PERSON_SCOPE = "people"  # people are shared by every repository: person:people:<email>


def person_id(email: str) -> str:
    return node_id("person", PERSON_SCOPE, email.strip().lower())


def mining_delta(records: Iterable[Contract], repo_id: str | None = None, commit: str | None = None,
                 ontology_version: str | None = None) -> GraphDelta:
    """Build the delta; ``repo_id``/``commit`` default to the stream's :class:`RepoSnapshot`."""
    snapshot: RepoSnapshot | None = None
    files: dict[str, FileRecord] = {}
    commits: list[CommitRecord] = []
    histories: dict[str, FileHistory] = {}
    folders: dict[str, FolderStats] = {}
    hotspots: dict[str, Hotspot] = {}
    couplings: list[Coupling] = []
    for rec in records:
        if isinstance(rec, RepoSnapshot):
            snapshot = rec
        elif isinstance(rec, FileRecord):
            files[rec.path] = rec
        elif isinstance(rec, CommitRecord):
            commits.append(rec)
        elif isinstance(rec, FileHistory):
            histories[rec.path] = rec
        elif isinstance(rec, FolderStats):
            folders[rec.folder] = rec
        elif isinstance(rec, Hotspot):
            hotspots[rec.path] = rec
        elif isinstance(rec, Coupling):
            couplings.append(rec)
    repo = repo_id or (snapshot.repo_id if snapshot else None)
    if not repo:
        raise ValueError("no repo_id given and no repo_snapshot record in the mining stream")
    commit = commit or (snapshot.commit if snapshot else None)
    if ontology_version is None:
        from freshpoc_tasks.analysis.ontology import load_ontology

        ontology_version = load_ontology().version

    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str, str], Edge] = {}

    def add(node_type: str, key: str, name: str, at: str | None = None, **props: Any) -> str:
        nid = node_id(node_type, repo, key)
        nodes[nid] = Node(id=nid, type=node_type, scope=repo, key=key, name=name, path=at,
                          props={k: v for k, v in props.items() if v is not None})
        return nid

    def link(edge_type: str, src: str, dst: str, **props: Any) -> None:
        edges[(edge_type, src, dst)] = Edge(type=edge_type, src=src, dst=dst,
                                            props={k: v for k, v in props.items() if v is not None})

    # Only the location: the snapshot's ref is whatever was asked for (often a sha), not the
    # default branch, and a changing value here would mark the repository changed every commit.
    root = add("repository", repo, repo, url=snapshot.location if snapshot else None)

    def folder(path: str) -> str:
        if not path:
            return root
        fid = node_id("folder", repo, path)
        if fid not in nodes:
            parent, _, name = path.rpartition("/")
            stats = folders.get(path)
            metrics = ({k: getattr(stats, k) for k in ("files", "revisions", "added", "deleted", "authors",
                                                      "main_author", "main_author_share", "bus_factor")}
                       if stats else {})
            add("folder", path, name, path, path=path, **metrics)
            link("contains", folder(parent), fid)
        return fid

    for path, f in sorted(files.items()):
        hist = histories.get(path)
        hot = hotspots.get(path)
        metrics: dict[str, Any] = {}
        if hist is not None:
            metrics = {k: getattr(hist, k) for k in ("revisions", "added", "deleted", "churn", "authors",
                                                     "main_author", "main_author_share", "bus_factor")}
            metrics["first_changed_at"] = hist.first_changed_at.isoformat()
            metrics["last_changed_at"] = hist.last_changed_at.isoformat()
        if hot is not None:
            metrics.update(hotspot_score=hot.score, hotspot_rank=hot.rank)
        parent, _, name = path.rpartition("/")
        fid = add("file", path, name, path, path=path, language=f.language, size=f.size, blob_sha=f.blob_sha,
                  is_generated=f.is_generated, is_vendored=f.is_vendored, is_binary=f.is_binary,
                  skipped_reason=f.skipped_reason, lines_code=f.lines_code, lines_comment=f.lines_comment,
                  lines_blank=f.lines_blank, **metrics)
        link("contains", folder(parent), fid)

    for c in commits:
        cid = add("commit", c.sha, c.summary, sha=c.sha, message=c.summary,
                  authored_at=c.authored_at.isoformat(), committed_at=c.committed_at.isoformat(),
                  is_merge=c.is_merge, is_bot=c.is_bot)
        pid = person_id(c.author_email)
        nodes[pid] = Node(id=pid, type="person", scope=PERSON_SCOPE, key=c.author_email.strip().lower(),
                          name=c.author_name, props={"email": c.author_email.strip().lower(),
                                                     "name": c.author_name})
        link("authored_by", cid, pid)
        for p in c.parents:
            link("parent", cid, node_id("commit", repo, p))
        for ch in c.changes:
            link("modifies", cid, node_id("file", repo, ch.path), change_type=ch.change_type,
                 added=ch.added, removed=ch.deleted, old_path=ch.old_path)

    for cp in couplings:
        a, b = node_id("file", repo, cp.path_a), node_id("file", repo, cp.path_b)
        link("coupled_with", a, b, shared_revisions=cp.shared_revisions,
             average_revisions=cp.average_revisions, degree=cp.degree)

    return GraphDelta(repo_id=repo, commit=commit, ontology_version=ontology_version,
                      analyzers={"mining": snapshot.tool_version if snapshot else "unknown"},
                      nodes=sorted(nodes.values(), key=lambda n: n.id),
                      edges=sorted(edges.values(), key=lambda e: (e.type, e.src, e.dst)))


def merge_deltas(*deltas: GraphDelta) -> GraphDelta:
    """One delta for one repository and commit (mining + analysis): the writer treats a delta as
    the *whole* state at its commit, so the stages' deltas must be merged before writing.

    Nodes with the same id are merged (later delta's non-empty properties win, path/span kept);
    edges with the same (type, src, dst) keep the highest confidence.
    """
    if not deltas:
        raise ValueError("merge_deltas needs at least one delta")
    first = deltas[0]
    for d in deltas[1:]:
        if (d.repo_id, d.commit) != (first.repo_id, first.commit):
            raise ValueError(f"cannot merge deltas of {first.repo_id}@{first.commit} "
                             f"and {d.repo_id}@{d.commit}")
    nodes: dict[str, Node] = {}
    edges: dict[tuple[str, str, str], Edge] = {}
    analyzers: dict[str, str] = {}
    for d in deltas:
        analyzers.update(d.analyzers)
        for n in d.nodes:
            prev = nodes.get(n.id)
            if prev is None:
                nodes[n.id] = n
            else:
                props = {**prev.props, **{k: v for k, v in n.props.items() if v not in ("", None, [], {})}}
                nodes[n.id] = prev.model_copy(update={"props": props, "path": n.path or prev.path,
                                                      "span": n.span or prev.span,
                                                      "name": n.name or prev.name})
        for e in d.edges:
            k = (e.type, e.src, e.dst)
            if k not in edges or e.confidence > edges[k].confidence:
                edges[k] = e
    newest = max((d.ontology_version for d in deltas), key=lambda s: tuple(map(int, s.split("."))))
    return GraphDelta(
        repo_id=first.repo_id, commit=first.commit, ontology_version=newest,
        analyzers=analyzers, nodes=sorted(nodes.values(), key=lambda n: n.id),
        edges=sorted(edges.values(), key=lambda e: (e.type, e.src, e.dst)),
        diagnostics=[x for d in deltas for x in d.diagnostics],
        proposed=[x for d in deltas for x in d.proposed])
