"""Integration tests leave the user's stack as they found it: what a test repository put into
the shared servers is deleted when the test ends.

A test that runs the pipeline on a throwaway repository writes into every store the product
lists from: Dgraph (the report browser's repository list and every query), Weaviate (search),
the PostgreSQL registry and ontology ledger, and MinIO (staged snapshots, stage outputs and
reports). :func:`forget_repository` removes all of that for one repository id; fixtures call it
on teardown (:func:`scratch_repo`), so ``make test`` adds nothing a user would see — the demo's
examples, which no test touches, stay.

Shared nodes (warehouse tables, people, distributions) are not a repository's: they are kept,
the way a writer never deletes what another repository may name.

Run ``.venv/bin/python -m tests.integration.cleanup`` to forget test repositories that runs of
older checkouts (before this module) left behind: ids matching :data:`LEFTOVER_PATTERNS`.
"""

from __future__ import annotations

import re
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from freshpoc_tasks.contracts.locations import BUCKET

# Repository ids earlier test runs created (test/graph-<hex>, local/<example>_<purpose>_<hex>...).
LEFTOVER_PATTERNS = (
    r"^test/(graph|lock|a|b|c|proposals|cli)-",
    r"^local/(py_inventory_e2e|airflow_dags_outage|jaffle_search|dated|pulumi_push|fptest|dlqtest|drill)_[0-9a-f]{8}",
)


def forget_graph(repo_id: str) -> None:
    """Every Dgraph node the repository owns, its timeline state, aggregates and manifest
    (graph.writer.forget_repository)."""
    from freshpoc_tasks.graph.writer import forget_repository
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook() as hook:
        forget_repository(hook, repo_id)


def forget_chunks(repo_id: str) -> int:
    from freshpoc_tasks.hooks.weaviate import CodeChunkHook

    with CodeChunkHook() as hook:
        if not hook.conn.collections.exists(hook.collection_name):
            return 0
        return hook.delete_stale(repo_id, keep=[])


def forget_staged(repo_id: str) -> int:
    """Snapshots, stage outputs and reports of the repository in the bucket."""
    from freshpoc_tasks.hooks.staging import StagingHook

    s3 = StagingHook()
    keys = [k for prefix in ("snapshots", "staging", "reports")
            for k in (s3.list_keys(bucket_name=BUCKET, prefix=f"{prefix}/{repo_id}/") or [])]
    for start in range(0, len(keys), 1000):
        s3.delete_objects(bucket=BUCKET, keys=keys[start:start + 1000])
    return len(keys)


def forget_records(repo_id: str) -> None:
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook
    from freshpoc_tasks.hooks.registry import RepoRegistry

    RepoRegistry().forget(repo_id)
    ledger = OntologyLedgerHook()
    ledger.ensure_tables()
    ledger.forget_repository(repo_id)


def forget_repository(repo_id: str) -> None:
    """Delete what the stack holds for ``repo_id`` in every store (each step idempotent). Every
    store is tried even when one is down; the first failure is raised after the others ran."""
    failures: list[Exception] = []
    for step in (forget_graph, forget_chunks, forget_staged, forget_records):
        try:
            step(repo_id)
        except Exception as exc:  # one store down must not leave the others holding the repo
            failures.append(exc)
    if failures:
        raise failures[0]


def scratch_name(purpose: str) -> str:
    """A unique folder name for a throwaway repository (its repo id is derived from it)."""
    return f"{purpose}_{uuid.uuid4().hex[:8]}"


@contextmanager
def scratch_repo(repo_id: str) -> Iterator[str]:
    """Yield ``repo_id``; forget it in every store when the block ends, pass or fail."""
    try:
        yield repo_id
    finally:
        forget_repository(repo_id)


def listed_repositories() -> set[str]:
    """Repository ids a user sees: the graph's repository nodes and the registry's rows."""
    from freshpoc_tasks.hooks.dgraph import DgraphHook
    from freshpoc_tasks.hooks.registry import RepoRegistry

    with DgraphHook() as hook:
        rows = hook.query('{ r(func: eq(ntype, "repository"), first: 100000) { key } }').get("r", [])
    return {r["key"] for r in rows if r.get("key")} | {r["repo_id"] for r in RepoRegistry().repositories()}


def main() -> int:
    """Forget the test repositories older runs left in the local stack."""
    from freshpoc_tasks.stack.client import use_local_stack

    use_local_stack()
    found = sorted(r for r in listed_repositories() if any(re.match(p, r) for p in LEFTOVER_PATTERNS))
    for repo_id in found:
        forget_repository(repo_id)
        print(f"forgot {repo_id}")
    print(f"{len(found)} test repositories removed" if found else "no test repositories left behind")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main())
