"""Graph data for the query API's tests: a private Dgraph written by the real graph writer.

Each commit of a scripted git history is mined and analysed the pipeline's way, the two deltas
merged and applied with :class:`~freshpoc_tasks.graph.writer.GraphWriter` at the commit's time —
so the API is tested against exactly the schema and validity encoding the pipeline produces.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from freshpoc_tasks.contracts.base import read_jsonl
from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
from freshpoc_tasks.contracts.mining import MINING_RECORDS, MiningOptions, RepoSnapshot
from freshpoc_tasks.testing.private import PrivateDgraph

ROOT = Path(__file__).resolve().parents[3]


@contextmanager
def private_dgraph(state_dir: Path) -> Iterator[dict[str, int]]:
    """A throwaway Dgraph (zero + alpha) started the project's way; yields its ports."""
    with PrivateDgraph(state_dir) as pd:
        yield pd.ports


def example_files(name: str) -> dict[str, str]:
    root = ROOT / "include" / "examples" / name
    return {p.relative_to(root).as_posix(): p.read_text() for p in sorted(root.rglob("*"))
            if p.is_file() and "target" not in p.relative_to(root).parts and p.suffix != ".pyc"}


def write_history(writer: Any, repo_path: Path, shas: list[str], work: Path,
                  repo_id: str | None = None) -> str:
    """Mine, analyse and write every commit of ``shas`` (oldest first); returns the repo id.

    ``repo_id`` names the repository in the graph (default: the id mining derives from the
    path, which carries a hash of the temporary folder); the tests pass fixed ids so their
    expected answers can be written down exactly."""
    from freshpoc_tasks.analysis.stage import analyse_commit
    from freshpoc_tasks.graph.from_mining import merge_deltas, mining_delta
    from freshpoc_tasks.mining.access import open_repository
    from freshpoc_tasks.mining.pipeline import mine_repository

    opts = MiningOptions(min_revisions=1, min_shared_revisions=1, min_coupling=0)
    for n, sha in enumerate(shas):
        out = work / f"c{n}"
        mined = mine_repository(str(repo_path), out / "mine", cache_dir=work / "mirrors", ref=sha,
                                options=opts)
        records = list(read_jsonl(mined.artifact, MINING_RECORDS))
        snapshot = next(r for r in records if isinstance(r, RepoSnapshot))
        repo_id = repo_id or mined.repo_id
        repo = open_repository(str(repo_path), work / "mirrors", fetch=False)
        (out / "analyse").mkdir(parents=True, exist_ok=True)
        analysed = analyse_commit(repo, sha, out / "analyse", repo_id=repo_id)
        delta = merge_deltas(mining_delta(records, repo_id, sha),
                             GraphDelta.from_records(read_jsonl(analysed.artifact, GRAPH_RECORDS)))
        writer.apply(delta, committed_at=snapshot.committed_at)
    return repo_id
