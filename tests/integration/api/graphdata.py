"""Graph data for the query API's tests: a private Dgraph written by the real graph writer.

Each commit of a scripted git history is mined and analysed the pipeline's way, the two deltas
merged and applied with :class:`~freshpoc_tasks.graph.writer.GraphWriter` at the commit's time —
so the API is tested against exactly the schema and validity encoding the pipeline produces.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
from freshpoc_tasks.contracts.mining import MINING_RECORDS, MiningOptions, RepoSnapshot

ROOT = Path(__file__).resolve().parents[3]


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
    cfg = StackConfig.from_env().with_overrides(state_dir=state_dir, ports=ports)
    stack = Stack(cfg, only=["dgraph"])
    rows = {r.service: r.state for r in stack.up()}
    assert rows["dgraph"] == "healthy", rows
    try:
        yield ports
    finally:
        stack.down()


def _free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def example_files(name: str) -> dict[str, str]:
    root = ROOT / "include" / "examples" / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "target" not in p.relative_to(root).parts and p.suffix != ".pyc"}


def write_history(writer: Any, repo_path: Path, shas: list[str], work: Path) -> str:
    """Mine, analyse and write every commit of ``shas`` (oldest first); returns the repo id."""
    from freshpoc_tasks.analysis.stage import analyse_commit
    from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
    from freshpoc_tasks.mining.access import open_repository
    from freshpoc_tasks.mining.pipeline import mine_repository

    opts = MiningOptions(min_revisions=1, min_shared_revisions=1, min_coupling=0)
    repo_id = ""
    for n, sha in enumerate(shas):
        out = work / f"c{n}"
        mined = mine_repository(str(repo_path), out / "mine", cache_dir=work / "mirrors", ref=sha,
                                options=opts)
        records = list(read_jsonl(mined.artifact, MINING_RECORDS))
        snapshot = next(r for r in records if isinstance(r, RepoSnapshot))
        repo_id = mined.repo_id
        repo = open_repository(str(repo_path), work / "mirrors", fetch=False)
        (out / "analyse").mkdir(parents=True, exist_ok=True)
        analysed = analyse_commit(repo, sha, out / "analyse", repo_id=repo_id)
        delta = merge_deltas(mining_delta(records, repo_id, sha),
                             GraphDelta.from_records(read_jsonl(analysed.artifact, GRAPH_RECORDS)))
        writer.apply(delta, committed_at=snapshot.committed_at)
    return repo_id
