"""Fault drills: kill -9 MinIO, Weaviate or PostgreSQL in the middle of a pipeline run, keep it
down for a while, restart it. The run succeeds after retries, and what the stores hold for the
repository — its graph, its Weaviate objects, its staged artifacts — equals a clean run's.

(Dgraph's drill: tests/integration/graph/test_crash_drill.py; Kafka's: test_kafka_outage.py.)

One small documentation-only repository is processed once cleanly (the reference); each drill
then forgets it in every store and processes it again under the fault. Documentation only, on
purpose: the drills test the stores, so the repository touches every store (snapshots, staged
stages and reports in MinIO, file/commit/person nodes in Dgraph, Markdown chunks in Weaviate,
registry and locks in PostgreSQL) while its analysis does not depend on the code analyzers, whose
output may change between two runs while the code is being worked on, and it stays fast.

The server is restarted by the test, through the stack's supervisor, and the test waits for its
health check, pass or fail, so the stack is left as it was found.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from freshpoc_tasks.mining.access import repo_id_for
from freshpoc_tasks.stack.examples import materialise_example
from tests.integration.cleanup import forget_repository, scratch_name, scratch_repo
from tests.integration.outage import hold_down

DAG = "freshpoc_pipeline"
STAGES = ("ingest", "mine", "analyse", "write_graph", "embed", "report", "record")


# What the stores hold for one repository ------------------------------------------------------

def _graph(repo_id: str) -> list[dict[str, Any]]:
    """The repository's nodes with every predicate and edge (the canonical export's selection),
    without uids."""
    from freshpoc_tasks.graph.export import _VOLATILE, _selection
    from freshpoc_tasks.graph.ontology import load_graph_ontology
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    dql = f"query q($r: string) {{ n(func: eq(repo, $r), first: 1000000) {{ {_selection(onto)} }} }}"
    with DgraphHook() as hook:
        rows = hook.query(dql, {"$r": repo_id}).get("n", [])

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean(v) for k, v in sorted(value.items()) if k != "uid" and k not in _VOLATILE}
        if isinstance(value, list):
            return sorted((clean(v) for v in value), key=lambda v: json.dumps(v, sort_keys=True))
        return value

    return sorted((clean(r) for r in rows), key=lambda r: r["xid"])


def _chunks(repo_id: str) -> dict[str, Any]:
    """The repository's Weaviate objects: id -> (properties, vector rounded to 5 places)."""
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook, build_filters

    with CodeChunkHook() as hook:
        res = hook.collection.query.fetch_objects(filters=build_filters(repo_id), limit=10000,
                                                  include_vector=True)
    out = {}
    for o in res.objects:
        vector = o.vector.get("default") if isinstance(o.vector, dict) else o.vector
        out[str(o.uuid)] = (json.loads(json.dumps(o.properties, sort_keys=True, default=str)),
                            [round(float(x), 5) for x in vector or []])
    return out


# When the artifact was written (provenance), which two runs never share.
RUN_TIME_FIELDS = {"mined_at"}


def _stable(line: bytes) -> bytes:
    record = json.loads(line)
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in RUN_TIME_FIELDS}
    return json.dumps(record, sort_keys=True).encode()


def _staged(repo_id: str) -> dict[str, str]:
    """Every staged object of the repository: key -> sha256 of its content (gzip unwrapped, so
    the compressor's header does not count; JSON Lines without their run-time fields)."""
    from freshpoc_tasks.contracts.locations import BUCKET
    from freshpoc_tasks.hooks.staging import StagingHook

    s3 = StagingHook()
    out = {}
    for prefix in ("snapshots", "staging", "reports"):
        for key in s3.list_keys(bucket_name=BUCKET, prefix=f"{prefix}/{repo_id}/") or []:
            if key.rsplit("/", 1)[-1].startswith("impact."):
                # Lists what in the WHOLE graph depends on the changed nodes, shared ones
                # (people, tables) included: other repositories' nodes, which tests running
                # beside this one add and delete. Present, not compared.
                out[key] = "present"
                continue
            body = s3.get_key(key, bucket_name=BUCKET).get()["Body"].read()
            if key.endswith(".gz"):
                body = gzip.decompress(body)
            if key.endswith(".jsonl.gz"):
                body = b"\n".join(_stable(line) for line in body.splitlines())
            out[key] = hashlib.sha256(body).hexdigest()
    return out


def _state(repo_id: str) -> dict[str, Any]:
    return {"graph": _graph(repo_id), "chunks": _chunks(repo_id), "staged": _staged(repo_id)}


# Runs and faults -------------------------------------------------------------------------------

def _retrying(fn, *args, timeout: float = 180):
    """Airflow's REST API answers errors while its database is down: ask again."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return fn(*args)
        except (httpx.HTTPError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(2)


def _tries(airflow_api, run_id: str) -> dict[str, tuple[str, int]]:
    tis = airflow_api.api("GET", f"/dags/{DAG}/dagRuns/{run_id}/taskInstances")["task_instances"]
    return {t["task_id"]: (t["state"], t["try_number"]) for t in tis}


def _wait_for(airflow_api, run_id: str, task: str, states: set[str], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while airflow_api.task_states(DAG, run_id).get(task) not in states:
        assert time.monotonic() < deadline, f"{task} never reached {states}"
        time.sleep(0.3)


@pytest.fixture(scope="module")
def clean_run(stack, airflow_api, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """The small example processed once without faults: its path, id and stored state."""
    source = tmp_path_factory.mktemp("drill_source")
    for name, title in (("README.md", "Drill"), ("docs/stores.md", "Stores"), ("docs/runs.md", "Runs")):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        (source / name).write_text(f"# {title}\n\nWhat {title.lower()} are for.\n\n"
                                   f"## Failure\n\nWhen a server of the {title.lower()} dies, "
                                   "tasks retry until it is back.\n\n## Recovery\n\n"
                                   "A restarted server holds what it acknowledged.\n")
    path, _sha = materialise_example(source, tmp_path_factory.mktemp("drills") / scratch_name("drill"))
    with scratch_repo(repo_id_for(path)) as repo_id:
        run_id = airflow_api.trigger(DAG, {"repo": path})
        assert airflow_api.wait(DAG, run_id, timeout=600) == "success"
        state = _state(repo_id)
        assert state["graph"] and state["chunks"] and len(state["staged"]) >= 7
        yield {"path": path, "repo_id": repo_id, "state": state}


def _drill(stack, airflow_api, clean: dict[str, Any], *, service: str, program: str,
           when_task: str, down: float, hits: str | None = None) -> dict[str, tuple[str, int]]:
    """The run under the outage: the server killed once ``when_task`` runs, kept down ``down``
    seconds and, with ``hits``, until that task has failed on it (retries waiting), so the drill
    does not depend on how fast the tasks before it were on this machine."""
    forget_repository(clean["repo_id"])  # the run starts from nothing, as the clean one did
    run_id = airflow_api.trigger(DAG, {"repo": clean["path"]})
    _wait_for(airflow_api, run_id, f"process.{when_task}", {"running", "success", "up_for_retry"})

    def hit() -> bool:
        ti = _tries(airflow_api, run_id).get(f"process.{hits}", ("", 0))
        return ti[0] == "up_for_retry" or ti[1] > 1

    hold_down(stack, service, program, down, until=hit if hits else None)
    assert _retrying(airflow_api.wait, DAG, run_id, 600, timeout=700) == "success"
    tries = _retrying(_tries, airflow_api, run_id)
    assert {t: s for t, (s, _n) in tries.items() if t.startswith("process.")} == {
        f"process.{s}": "success" for s in STAGES}
    after = _state(clean["repo_id"])
    assert after["graph"] == clean["state"]["graph"]
    assert after["chunks"] == clean["state"]["chunks"]
    differing = {k for k in {*after["staged"], *clean["state"]["staged"]}
                 if after["staged"].get(k) != clean["state"]["staged"].get(k)}
    assert not differing, f"staged artifacts differ from the clean run's: {sorted(differing)}"
    return tries


def test_minio_kill_9_mid_run(stack, airflow_api, clean_run):
    tries = _drill(stack, airflow_api, clean_run, service="minio", program="minio",
                   when_task="mine", down=10)
    assert max(n for _s, n in tries.values()) > 1, f"the outage hit no task: {tries}"


def test_weaviate_kill_9_mid_run(stack, airflow_api, clean_run):
    tries = _drill(stack, airflow_api, clean_run, service="weaviate", program="weaviate",
                   when_task="write_graph", down=15, hits="embed")
    assert tries["process.embed"][1] > 1, f"the outage did not hit the embed task: {tries}"


def test_postgres_kill_9_mid_run(stack, airflow_api, clean_run):
    # Airflow's own metadata database goes down too: the task in flight loses its API server's
    # database, fails and is retried; the scheduler and the other components restart.
    tries = _drill(stack, airflow_api, clean_run, service="postgres", program="postgres",
                   when_task="mine", down=10)
    assert max(n for _s, n in tries.values()) > 1, f"the outage hit no task: {tries}"
