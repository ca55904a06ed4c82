"""The repository registry in PostgreSQL (schema ``freshpoc``), through PostgresHook.

It remembers which commit of which repository was processed with which analyzer and ontology
versions (the "fingerprint"), which is what lets a rerun for an unchanged repository skip all
downstream work, and what a backfill or the reprocess DAG consult.
"""

from __future__ import annotations

import json
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

DDL = [
    "CREATE SCHEMA IF NOT EXISTS freshpoc",
    """CREATE TABLE IF NOT EXISTS freshpoc.repositories (
        repo_id text PRIMARY KEY,
        location text NOT NULL,
        first_seen timestamptz NOT NULL DEFAULT now(),
        last_commit text,
        last_processed_at timestamptz)""",
    """CREATE TABLE IF NOT EXISTS freshpoc.processed_commits (
        repo_id text NOT NULL,
        commit text NOT NULL,
        fingerprint text NOT NULL,
        committed_at timestamptz,
        run_id text,
        snapshot_uri text,
        counts jsonb NOT NULL DEFAULT '{}'::jsonb,
        processed_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (repo_id, commit, fingerprint))""",
]


class RepoRegistry:
    def __init__(self, postgres_conn_id: str = "freshpoc_postgres") -> None:
        self.hook = PostgresHook(postgres_conn_id=postgres_conn_id)
        self._ready = False

    def ensure(self) -> None:
        if not self._ready:
            self.hook.run(DDL)
            self._ready = True

    def register(self, repo_id: str, location: str) -> None:
        self.ensure()
        self.hook.run(
            "INSERT INTO freshpoc.repositories (repo_id, location) VALUES (%(r)s, %(l)s) "
            "ON CONFLICT (repo_id) DO UPDATE SET location = EXCLUDED.location",
            parameters={"r": repo_id, "l": location},
        )

    def is_processed(self, repo_id: str, commit: str, fingerprint: str) -> bool:
        self.ensure()
        row = self.hook.get_first(
            "SELECT 1 FROM freshpoc.processed_commits WHERE repo_id = %(r)s AND commit = %(c)s "
            "AND fingerprint = %(f)s",
            parameters={"r": repo_id, "c": commit, "f": fingerprint},
        )
        return row is not None

    def record(self, repo_id: str, commit: str, fingerprint: str, *, committed_at: Any,
               run_id: str, snapshot_uri: str | None, counts: dict[str, int]) -> None:
        self.ensure()
        self.hook.run(
            [
                "INSERT INTO freshpoc.processed_commits "
                "(repo_id, commit, fingerprint, committed_at, run_id, snapshot_uri, counts) "
                "VALUES (%(r)s, %(c)s, %(f)s, %(t)s, %(run)s, %(s)s, %(n)s) "
                "ON CONFLICT (repo_id, commit, fingerprint) DO UPDATE SET run_id = EXCLUDED.run_id, "
                "counts = EXCLUDED.counts, processed_at = now()",
                "UPDATE freshpoc.repositories SET last_commit = %(c)s, last_processed_at = now() "
                "WHERE repo_id = %(r)s",
            ],
            parameters={"r": repo_id, "c": commit, "f": fingerprint, "t": committed_at,
                        "run": run_id, "s": snapshot_uri, "n": json.dumps(counts)},
        )

    def repositories(self) -> list[dict[str, Any]]:
        self.ensure()
        rows = self.hook.get_records(
            "SELECT repo_id, location, last_commit, last_processed_at FROM freshpoc.repositories "
            "ORDER BY repo_id")
        return [dict(zip(("repo_id", "location", "last_commit", "last_processed_at"), r, strict=True))
                for r in rows]

    def forget(self, repo_id: str) -> int:
        """Drop a repository and its processed commits (a repository deleted from the stack,
        e.g. one a test created); returns how many processed commits were dropped."""
        self.ensure()
        with self.hook.get_conn() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM freshpoc.processed_commits WHERE repo_id = %s", (repo_id,))
            dropped = cur.rowcount
            cur.execute("DELETE FROM freshpoc.repositories WHERE repo_id = %s", (repo_id,))
            conn.commit()
        return dropped

    def snapshots(self, repo_id: str) -> list[dict[str, Any]]:
        """Processed commits of a repository, oldest first (what reprocessing starts from)."""
        self.ensure()
        rows = self.hook.get_records(
            "SELECT DISTINCT ON (commit) commit, committed_at, snapshot_uri, counts "
            "FROM freshpoc.processed_commits WHERE repo_id = %(r)s ORDER BY commit, processed_at DESC",
            parameters={"r": repo_id})
        out = [dict(zip(("commit", "committed_at", "snapshot_uri", "counts"), r, strict=True))
               for r in rows]
        return sorted(out, key=lambda r: r["committed_at"] or 0)


class RepoLock:
    """A PostgreSQL advisory lock per repository, held while its graph is written.

    The graph writer is safe for concurrent writers of different repositories, not of the same
    one (it plans against the stored state it read); the pipeline and the on-push DAG may both
    process one repository, so the write stage takes this lock. Released on exit, and by
    PostgreSQL itself if the task dies with the connection.
    """

    def __init__(self, repo_id: str, postgres_conn_id: str = "freshpoc_postgres") -> None:
        self.repo_id = repo_id
        self.hook = PostgresHook(postgres_conn_id=postgres_conn_id)
        self.conn: Any = None

    def __enter__(self) -> RepoLock:
        self.conn = self.hook.get_conn()
        self.conn.autocommit = True
        with self.conn.cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(hashtext(%s))", ("freshpoc-graph:" + self.repo_id,))
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            with self.conn.cursor() as cur:
                cur.execute("SELECT pg_advisory_unlock(hashtext(%s))",
                            ("freshpoc-graph:" + self.repo_id,))
        finally:
            self.conn.close()
