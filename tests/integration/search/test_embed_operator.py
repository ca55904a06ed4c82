"""EmbedOperator end to end: a scripted git repo, mined and analysed, staged in MinIO, embedded."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from freshpoc_tasks.analysis.engine import analyse_repository
from freshpoc_tasks.analysis.gitsource import iter_source_files
from freshpoc_tasks.contracts.base import write_jsonl
from freshpoc_tasks.hooks.weaviate import CodeChunkHook
from freshpoc_tasks.mining.access import open_repository
from freshpoc_tasks.operators.embed import EmbedOperator
from freshpoc_tasks.testing import RepoBuilder

CORE = '''"""Decide what to reorder."""


def restock_plan(items, minimum=1):
    """SKUs to reorder, most urgent first."""
    return sorted(items)[:minimum]


def forecast_demand(history):
    """Expected units sold next week from the weekly sales history."""
    return sum(history[-4:]) / 4
'''
README = "# Inventory\nPlans restocking.\n\n## Forecasts\nWeekly demand estimates.\n"


@pytest.fixture
def staged(tmp_path, search_servers):
    """Stage (analysis, snapshot) for each commit of a two-commit repo; remove the keys afterwards."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    builder = RepoBuilder(tmp_path / f"embed-{uuid.uuid4().hex[:8]}.git")
    builder.commit(write={"pkg/core.py": CORE, "README.md": README})
    builder.commit(write={"pkg/core.py": CORE.split("\n\ndef forecast_demand")[0] + "\n"})
    repo = open_repository(str(builder.path), tmp_path / "mirrors")
    s3 = S3Hook(aws_conn_id="freshpoc_s3")
    keys: list[str] = []
    commits = []
    for n, commit in enumerate(builder.commits):
        files = list(iter_source_files(repo, commit))
        delta = analyse_repository(files, repo.repo_id, commit=commit)
        local = tmp_path / f"a{n}" / "analyse.jsonl.gz"
        write_jsonl(local, delta.iter_records())
        key = f"staging/{repo.repo_id}/{commit}/analyse.jsonl.gz"
        s3.load_file(local, key, bucket_name="freshpoc", replace=True)
        snap = tmp_path / f"s{n}.tar.gz"
        with tarfile.open(snap, "w:gz") as tar:
            text = {"pkg/core.py": CORE if n == 0 else CORE.split("\n\ndef forecast_demand")[0] + "\n",
                    "README.md": README}
            for path, body in text.items():
                info = tarfile.TarInfo(f"./{path}")
                info.size = len(body.encode())
                tar.addfile(info, io.BytesIO(body.encode()))
        snap_key = f"snapshots/{repo.repo_id}/{commit}.tar.gz"
        s3.load_file(snap, snap_key, bucket_name="freshpoc", replace=True)
        keys += [key, snap_key]
        commits.append(commit)
    yield repo.repo_id, commits
    s3.delete_objects("freshpoc", keys)


def _op(repo_id: str, commit: str, collection: str, **kw) -> EmbedOperator:
    return EmbedOperator(task_id="embed", repo_id=repo_id, commit=commit, collection=collection, **kw)


def test_embed_rerun_and_next_commit(staged, collection):
    repo_id, (first, second) = staged
    counts = _op(repo_id, first, collection).execute({})
    assert counts == {"repo_id": repo_id, "commit": first, "chunks": 5, "unchanged": 0, "embedded": 5,
                      "inserted": 5, "deleted": 0, "source_files": 2,
                      "model": "all-minilm-l6-v2-q@1.19.0-beta29/128t/tests32t"}  # model + the cut
    again = _op(repo_id, first, collection).execute({})
    assert (again["inserted"], again["embedded"], again["deleted"], again["unchanged"]) == (0, 0, 0, 5)

    with CodeChunkHook(collection=collection) as hook:
        assert hook.count(repo_id) == 5
        hit = hook.search("how many units will we sell next week?", repo_id=repo_id, limit=1)[0]
        assert hit.xid == f"py.function:{repo_id}:pkg.core.forecast_demand"
        assert hit.snippet.startswith("def forecast_demand(history):")

    nxt = _op(repo_id, second, collection).execute({})
    # forecast_demand is gone and the module's member list changed; README and restock_plan stay
    assert (nxt["chunks"], nxt["unchanged"], nxt["inserted"], nxt["deleted"]) == (4, 3, 1, 2)
    with CodeChunkHook(collection=collection) as hook:
        stored = hook.collection.query.fetch_objects(limit=20, return_properties=["xid", "part"]).objects
        assert sorted((o.properties["xid"], o.properties["part"]) for o in stored) == [
            (f"file:{repo_id}:README.md", 0), (f"file:{repo_id}:README.md", 1),
            (f"py.function:{repo_id}:pkg.core.restock_plan", 0), (f"py.module:{repo_id}:pkg.core", 0)]


def test_missing_analysis_is_a_clear_error(collection, search_servers):
    op = _op("local/nothing-here", "0" * 40, collection)
    with pytest.raises(FileNotFoundError, match=r"no analysis artifact at s3://freshpoc/staging/"
                                                r"local/nothing-here/0{40}/analyse.jsonl.gz"):
        op.execute({})


def test_operator_constructor_only_stores_values():
    op = EmbedOperator(task_id="embed", repo_id="{{ params.repo }}", commit="{{ params.sha }}")
    assert (op.repo_id, op.commit, op.analysis_uri, op.collection) == (
        "{{ params.repo }}", "{{ params.sha }}", None, "CodeChunk")
    assert set(op.template_fields) == {"repo_id", "commit", "analysis_uri", "snapshot_uri", "collection"}
