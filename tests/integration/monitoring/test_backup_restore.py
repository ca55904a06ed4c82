"""freshpoc backup of the running stack, restored into servers of the test's own (a private
Dgraph, a scratch database, a scratch Weaviate collection), so the shared stack is never reset:
the restored graph's canonical export, the registry rows and the search answers must equal the
stack's at backup time. Backup and restore times are printed (pytest -s).

Other tests may write to the stack meanwhile; each comparison is made only against a stack that
did not change while the backup ran (read before and after it, up to three tries).
"""

from __future__ import annotations

import subprocess
import time
import uuid
from pathlib import Path

import pytest

from freshpoc_tasks.cli import backup as bk

TRIES = 3


def canonical(conn_id: str | None = None) -> list[str]:
    from freshpoc_tasks.graph.export import canonical_export
    from freshpoc_tasks.graph.ontology import load_graph_ontology
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook(conn_id) if conn_id else DgraphHook() as hook:
        return list(canonical_export(hook, load_graph_ontology()))


def registry_rows(cfg, db: str) -> str:
    sql = ("SELECT repo_id, commit, fingerprint, counts::text FROM freshpoc.processed_commits "
           "ORDER BY 1, 2, 3; SELECT repo_id, location, last_commit FROM freshpoc.repositories ORDER BY 1")
    out = subprocess.run([*bk._pg(cfg, "psql"), "-d", db, "-At", "-c", sql],
                         capture_output=True, text=True, check=True)
    return out.stdout


def chunk_state(collection: str) -> tuple[int, list[str]]:
    """Object count, and the ids of the 10 nearest objects to a fixed stored vector."""
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook

    with CodeChunkHook(collection=collection) as hook:
        count = hook.collection.aggregate.over_all(total_count=True).total_count
        first = next(iter(hook.collection.iterator(include_vector=True)), None)
        if first is None:
            return count, []
        vector = first.vector.get("default") if isinstance(first.vector, dict) else first.vector
        found = hook.collection.query.near_vector(near_vector=vector, limit=10)
        return count, [str(o.uuid) for o in found.objects]


@pytest.fixture(scope="module")
def backup(stack, tmp_path_factory) -> dict:
    """A backup taken while the stack stood still, with what the stack held then."""
    for _ in range(TRIES):
        before = (canonical(), registry_rows(stack.cfg, "freshpoc"), chunk_state(bk.COLLECTION))
        root = tmp_path_factory.mktemp("backup") / "b"
        start = time.monotonic()
        manifest = bk.make_backup(stack.cfg, root)
        seconds = time.monotonic() - start
        after = (canonical(), registry_rows(stack.cfg, "freshpoc"), chunk_state(bk.COLLECTION))
        if before == after:
            print(f"\nbackup: {seconds:.1f} s, {manifest['counts']}, parts {manifest['seconds']}")
            return {"root": root, "graph": before[0], "registry": before[1], "chunks": before[2],
                    "manifest": manifest}
    pytest.fail(f"the stack changed during each of {TRIES} backups: other tests were writing")


def test_backup_checks_out_against_its_manifest(backup) -> None:
    manifest = bk.verify_manifest(backup["root"])
    assert {"dgraph/g01.rdf.gz", "dgraph/g01.schema.gz", "postgres/freshpoc.dump",
            "postgres/airflow.dump", "weaviate/CodeChunk.jsonl.gz"} <= set(manifest["files"])
    assert manifest["counts"]["weaviate_objects"] == backup["chunks"][0]


def test_graph_restores_to_the_same_canonical_export(backup, tmp_path) -> None:
    from freshpoc_tasks.testing.private import PrivateDgraph

    assert backup["graph"], "the stack's graph is empty: nothing would be compared"
    with PrivateDgraph(tmp_path / "dgraph") as private:
        start = time.monotonic()
        bk.restore_dgraph(private.cfg, backup["root"])
        print(f"\nrestore of the graph: {time.monotonic() - start:.1f} s")
        assert canonical(private.conn_id) == backup["graph"]


def test_registry_restores_to_the_same_rows(stack, backup) -> None:
    scratch = f"freshpoc_restore_{uuid.uuid4().hex[:8]}"
    psql = [*bk._pg(stack.cfg, "psql"), "-d", "postgres", "-c"]
    subprocess.run([*psql, f'CREATE DATABASE "{scratch}" OWNER freshpoc'], check=True, capture_output=True)
    try:
        bk.restore_postgres(stack.cfg, backup["root"], "freshpoc", into=scratch)
        assert registry_rows(stack.cfg, scratch) == backup["registry"]
    finally:
        subprocess.run([*psql, f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)'], check=True,
                       capture_output=True)


def test_search_index_restores_with_the_same_answers(backup) -> None:
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook

    scratch = f"CodeChunkRestore{uuid.uuid4().hex[:8]}"
    try:
        start = time.monotonic()
        written = bk.restore_weaviate(backup["root"], collection=scratch)
        print(f"\nrestore of the search index: {time.monotonic() - start:.1f} s ({written} objects)")
        assert chunk_state(scratch) == backup["chunks"]
    finally:
        with CodeChunkHook(collection=scratch) as hook:
            if hook.conn.collections.exists(scratch):
                hook.drop_collection()


def test_minio_bucket_has_versioning_on(stack) -> None:
    from freshpoc_tasks.hooks.staging import StagingHook

    client = StagingHook().get_conn()
    assert client.get_bucket_versioning(Bucket="freshpoc").get("Status") == "Enabled"


def test_the_commands_round_trip_a_folder(stack, tmp_path) -> None:
    """`freshpoc backup --to DIR` from a shell writes a verifiable backup and says how long."""
    freshpoc = Path(stack.cfg.venv_bin("freshpoc"))
    res = subprocess.run([str(freshpoc), "backup", "--to", str(tmp_path)], capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "backup done in" in res.stdout
    (folder,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    bk.verify_manifest(folder)
