"""The whole pipeline on one repository holding many hostile inputs (issue 15).

The repository is the hostile corpus's content repository without its slow inputs
(``corpus.build_pipeline_repo``): Jinja and YAML bombs, sandbox escapes, symlinks out of the
repository, odd encodings and names, backtracking ``.gitattributes`` patterns and a ``.git``
armed with hooks, filters and fsmonitor. ``freshpoc_pipeline`` is triggered over REST on it, and:

- the run succeeds, every stage of the repository included;
- every hostile file is recorded in the staged artifacts (a diagnostic in ``analyse.jsonl.gz``,
  or a skip reason in ``mine.jsonl.gz``), and the good files next to them are analysed;
- the canary, a file outside the repository, appears in no staged artifact (snapshot, bundle,
  stage outputs, reports), no graph node and no Weaviate object; no trap fired.

The repository has a unique id and is forgotten by every store afterwards.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from freshpoc_tasks.mining.access import repo_id_for
from tests.hostile import corpus as c
from tests.hostile.analysis_inputs import CANARY as ESCAPE_MARKER
from tests.integration.cleanup import scratch_name, scratch_repo
from tests.integration.pipeline.test_store_drills import _chunks, _graph

DAG = "freshpoc_pipeline"
STAGES = ("ingest", "mine", "analyse", "write_graph", "embed", "report", "record")


@pytest.fixture(scope="module")
def hostile_run(airflow_api, tmp_path_factory) -> Iterator[dict]:
    Path(ESCAPE_MARKER).unlink(missing_ok=True)
    base = tmp_path_factory.mktemp("hostile_pipeline")
    corpus = c.build_pipeline_repo(base)
    path = base / scratch_name("fptest")  # same depth: the relative symlinks still point outside
    (base / "pipeline").rename(path)
    commit = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    with scratch_repo(repo_id_for(str(path))) as repo_id:
        run_id = airflow_api.trigger(DAG, {"repo": str(path)})
        state = airflow_api.wait(DAG, run_id, timeout=1500)
        tis = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances",
                              params={"limit": 100})["task_instances"]
        yield {"corpus": corpus, "repo_id": repo_id, "commit": commit, "run_id": run_id, "state": state,
               "tasks": {t["task_id"]: t["state"] for t in tis}}


def _objects(repo_id: str) -> dict[str, bytes]:
    """Every staged object of the repository, gzip unwrapped."""
    from freshpoc_tasks.contracts.locations import BUCKET
    from freshpoc_tasks.hooks.staging import StagingHook

    s3 = StagingHook()
    out = {}
    for prefix in ("snapshots", "staging", "reports"):
        for key in s3.list_keys(bucket_name=BUCKET, prefix=f"{prefix}/{repo_id}/") or []:
            body = s3.get_key(key, bucket_name=BUCKET).get()["Body"].read()
            out[key] = gzip.decompress(body) if key.endswith(".gz") else body
    return out


def _records(data: bytes) -> list[dict]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


def test_hostile_repository_runs_green(hostile_run):
    assert hostile_run["state"] == "success", hostile_run["tasks"]
    assert {f"process.{s}" for s in STAGES} <= {t for t, s in hostile_run["tasks"].items() if s == "success"}


def test_every_hostile_file_is_recorded_in_the_staged_artifacts(hostile_run):
    objects = _objects(hostile_run["repo_id"])
    base = f"staging/{hostile_run['repo_id']}/{hostile_run['commit']}"
    analysed = _records(objects[f"{base}/analyse.jsonl.gz"])
    mined = _records(objects[f"{base}/mine.jsonl.gz"])
    codes: dict[str, set[str]] = {}
    for r in analysed:
        if r.get("kind") == "diagnostic":
            codes.setdefault(r.get("path") or "", set()).add(r["code"])
    nodes = {r["path"] for r in analysed if r.get("kind") == "node" and r.get("path")}
    skipped = {r["path"]: r.get("skipped_reason") for r in mined if r.get("kind") == "file"}
    assert not [p for p, cs in codes.items() if "internal_error" in cs]
    checked = 0
    for item in hostile_run["corpus"].inputs:
        for path in item.paths:
            if item.expect == c.FLAGGED:
                assert codes.get(path) or skipped.get(path), f"{item.name}: {path!r} recorded with no reason"
                checked += 1
            if item.expect == c.BUDGETED:  # clean, or stopped by the time budget and recorded so
                assert codes.get(path, set()) <= c.BUDGET_CODES, (item.name, path, codes.get(path))
        for path in item.good:
            assert path in nodes and not codes.get(path), (item.name, path, codes.get(path))
    assert checked >= 40


def test_canary_reaches_no_store_and_nothing_ran(hostile_run, tmp_path):
    corpus = hostile_run["corpus"]
    token = corpus.token.encode()
    objects = _objects(hostile_run["repo_id"])
    assert any(k.endswith(".bundle") for k in objects) and any(k.endswith(".tar.gz") for k in objects)
    for key, body in objects.items():
        assert token not in body, key  # the snapshot's tar is unwrapped: its members are plain bytes
        if key.endswith(".tar.gz"):  # symlinks stay symlinks (their target's text, never its content)
            with tarfile.open(fileobj=io.BytesIO(body)) as tar:
                links = {m.name.split("/", 1)[-1]: m for m in tar.getmembers() if "links/" in m.name}
                assert links and all(m.issym() for m in links.values()), links
        if key.endswith(".bundle"):  # git objects are compressed inside: ask git for each one
            bundle = tmp_path / "snapshot.bundle"
            bundle.write_bytes(body)
            subprocess.run(["git", "clone", "-q", "--bare", str(bundle), str(tmp_path / "b.git")], check=True)
            batch = ["git", f"--git-dir={tmp_path / 'b.git'}", "cat-file", "--batch-all-objects", "--batch"]
            every = subprocess.run(batch, capture_output=True, check=True).stdout
            assert token not in every
    graph = json.dumps(_graph(hostile_run["repo_id"]))
    assert hostile_run["repo_id"] in graph and corpus.token not in graph
    chunks = json.dumps({k: v[0] for k, v in _chunks(hostile_run["repo_id"]).items()})
    assert chunks != "{}" and corpus.token not in chunks
    assert not corpus.marker.exists() and not Path(ESCAPE_MARKER).exists()
