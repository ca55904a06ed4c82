"""Graph data for the query API's tests and benchmark, in the read model of include/queries.

A stand-in for the graph writer (issue 6) until it lands: it writes what the saved queries read
(``include/queries/read_model.schema``) into a private Dgraph — analysis deltas of each commit
of a scripted git history, the miner's aggregates, and commit-range validity per node.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.model import SourceFile
from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import node_id
from freshpoc_tasks.contracts.mining import (
    MINING_RECORDS,
    CommitRecord,
    Coupling,
    FileHistory,
    FolderStats,
    MiningOptions,
)

ROOT = Path(__file__).resolve().parents[3]
SCHEMA = (ROOT / "include" / "queries" / "read_model.schema").read_text()
LANG = {".sql": "SQL", ".py": "Python", ".yml": "YAML", ".yaml": "YAML", ".csv": "CSV", ".md": "Markdown",
        ".toml": "TOML"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def private_dgraph(state_dir: Path) -> Iterator[dict[str, int]]:
    """A throwaway Dgraph (zero + alpha) started the project's way; ``.down()`` at the end."""
    from freshpoc_tasks.stack.config import StackConfig
    from freshpoc_tasks.stack.manager import Stack

    while True:  # Dgraph derives its ports from offsets: pick a free offset for all five
        off = 40 + int.from_bytes(os.urandom(1), "big") % 200
        ports = {"dgraph_http": 8080 + off, "dgraph_grpc": 9080 + off, "dgraph_internal": 7080 + off,
                 "dgraph_zero_grpc": 5080 + off, "dgraph_zero_http": 6080 + off}
        if all(_free(p) for p in ports.values()):
            break
    env = {"FRESHPOC_STATE_DIR": str(state_dir),
           **{f"FRESHPOC_PORT_{k.upper()}": str(v) for k, v in ports.items()}}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        stack = Stack(StackConfig.from_env(), only=["dgraph"])
        rows = {r.service: r.state for r in stack.up()}
        assert rows["dgraph"] == "healthy", rows
        try:
            yield ports
        finally:
            stack.down()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


class Loader:
    """Writes nodes (keyed by xid) then edges, in batches, through one pydgraph client."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.uids: dict[str, str] = {}

    def schema(self) -> None:
        import pydgraph

        self.client.alter(pydgraph.Operation(schema=SCHEMA))

    def nodes(self, nodes: list[dict[str, Any]], batch: int = 5000) -> None:
        for i in range(0, len(nodes), batch):
            chunk = nodes[i:i + batch]
            objs = [{"uid": f"_:n{j}", **n} for j, n in enumerate(chunk)]
            txn = self.client.txn()
            resp = txn.mutate(set_obj=objs, commit_now=True)
            for j, n in enumerate(chunk):
                self.uids[n["xid"]] = resp.uids[f"n{j}"]

    def edges(self, edges: list[tuple[str, str, str, dict[str, Any]]], batch: int = 10000) -> None:
        known = [e for e in edges if e[1] in self.uids and e[2] in self.uids]
        for i in range(0, len(known), batch):
            objs = []
            for pred, src, dst, facets in known[i:i + batch]:
                target = {"uid": self.uids[dst], **{f"{pred}|{k}": v for k, v in facets.items()}}
                objs.append({"uid": self.uids[src], pred: target})
            txn = self.client.txn()
            txn.mutate(set_obj=objs, commit_now=True)


def source_files(files: dict[str, str]) -> list[SourceFile]:
    return [SourceFile.from_text(p, t.encode()) for p, t in sorted(files.items())]


def example_files(name: str) -> dict[str, str]:
    root = ROOT / "include" / "examples" / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "target" not in p.relative_to(root).parts and p.suffix != ".pyc"}


def load_history(loader: Loader, bare_repo: Path, trees: list[dict[str, str]], work: Path) -> str:
    """Write the graph of a scripted history: ``trees[i]`` is the whole tree at commit i+1."""
    from freshpoc_tasks.mining.pipeline import mine_repository

    opts = MiningOptions(min_revisions=1, min_shared_revisions=1, min_coupling=0)
    mined = mine_repository(str(bare_repo), work / "mine", cache_dir=work / "mirrors", options=opts)
    repo = mined.repo_id
    records = list(read_jsonl(mined.artifact, MINING_RECORDS))
    commits = sorted((r for r in records if isinstance(r, CommitRecord)), key=lambda c: c.committed_at)
    history = {r.path: r for r in records if isinstance(r, FileHistory)}
    folders = [r for r in records if isinstance(r, FolderStats)]
    couplings = [r for r in records if isinstance(r, Coupling)]
    assert len(commits) == len(trees), (len(commits), len(trees))

    present: dict[str, list[int]] = {}
    props: dict[str, dict[str, Any]] = {}
    edges: dict[tuple[str, str, str], dict[str, Any]] = {}
    for seq, (commit, tree) in enumerate(zip(commits, trees, strict=True), 1):
        delta = analyse_repository(source_files(tree), repo, commit=commit.sha)
        for n in delta.nodes:
            present.setdefault(n.id, []).append(seq)
            props[n.id] = {"xid": n.id, "dgraph.type": n.type, "name": n.name, "key": n.key,
                           **({"path": n.path} if n.path and n.type == "file" else {})}
        for path in tree:
            fid = node_id("file", repo, path)
            present.setdefault(fid, []).append(seq)
            h = history.get(path)
            props[fid] = {"xid": fid, "dgraph.type": "file", "name": path.rsplit("/", 1)[-1], "key": path,
                          "path": path, "language": LANG.get(Path(path).suffix, "Other"),
                          "size": len(tree[path]),
                          **({"revisions": h.revisions, "churn": h.churn, "authors": h.authors,
                              "main_author": h.main_author, "main_author_share": h.main_author_share,
                              "bus_factor": h.bus_factor} if h else {})}
        for e in delta.edges:
            edges[(e.type, e.src, e.dst)] = {}
    last = len(trees)
    nodes = []
    for xid, seqs in present.items():
        valid_to = next((s for s in range(seqs[0], last + 1) if s not in seqs), None)
        nodes.append({**props[xid], "repo": [repo], "valid_from": seqs[0],
                      **({"valid_to": valid_to} if valid_to else {})})
    nodes.append({"xid": node_id("repository", repo, repo), "dgraph.type": "repository", "key": repo,
                  "name": repo, "repo": [repo], "url": str(bare_repo), "valid_from": 1})
    for f in folders:
        path = f.folder or "."
        nodes.append({"xid": node_id("folder", repo, path), "dgraph.type": "folder", "path": path,
                      "key": path, "name": path, "repo": [repo], "valid_from": 1,
                      "main_author": f.main_author,
                      "main_author_share": f.main_author_share, "bus_factor": f.bus_factor,
                      "authors": f.authors, "revisions": f.revisions})
    people = {}
    for seq, c in enumerate(commits, 1):
        cid = node_id("commit", repo, c.sha)
        nodes.append({"xid": cid, "dgraph.type": "commit", "sha": c.sha, "seq": seq, "key": c.sha,
                      "name": c.summary, "committed_at": c.committed_at.isoformat(), "repo": [repo]})
        pid = node_id("person", "", c.author_email)
        people[pid] = {"xid": pid, "dgraph.type": "person", "email": c.author_email, "name": c.author_name}
        edges[("authored_by", cid, pid)] = {}
        for ch in c.changes:
            edges[("modifies", cid, node_id("file", repo, ch.path))] = {
                "added": ch.added, "removed": ch.deleted, "change_type": ch.change_type}
    nodes += people.values()
    for cp in couplings:
        edges[("coupled_with", node_id("file", repo, cp.path_a), node_id("file", repo, cp.path_b))] = {
            "shared_revisions": cp.shared_revisions, "average_revisions": cp.average_revisions,
            "degree": cp.degree}
    loader.nodes(nodes)
    loader.edges([(t, s, d, f) for (t, s, d), f in sorted(edges.items())])
    return repo


def wait_for_index(client: Any, timeout: float = 30.0) -> None:
    """Dgraph builds indexes in the background after ``alter``; queries need them done."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            client.txn(read_only=True).query('{ q(func: eq(xid, "x")) { uid } }')
            return
        except Exception:
            time.sleep(0.3)
    raise TimeoutError("Dgraph indexes not ready")


def dump(obj: Any) -> str:
    return json.dumps(obj, indent=1, sort_keys=True)
