"""Ontology ledger in PostgreSQL (schema ``freshpoc``): applied versions, proposals, reprocess marks.

Why PostgreSQL and not only the graph: the ledger is what a human approves against and what the
pipeline reads to decide what to rerun; it needs transactions across tables and plain SQL
history. The graph keeps its own node per applied version (``freshpoc.ontology:<version>``) so a
query against Dgraph alone can tell which schema it was written with.

Tables (all created idempotently by :meth:`OntologyLedgerHook.ensure_tables`):
``ontology_versions`` one row per applied version; ``ontology_proposals`` types analyzers asked
for that the ontology lacks, with the repositories that asked; ``graph_reprocess_marks``
repositories to re-run after an approval (the repository registry itself is the pipeline's).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from freshpoc_tasks.contracts.graph import ProposedType

DDL = """
CREATE SCHEMA IF NOT EXISTS freshpoc;
CREATE TABLE IF NOT EXISTS freshpoc.ontology_versions (
    version text PRIMARY KEY,
    schema_sha text NOT NULL,
    dgraph_schema text NOT NULL,
    ontology_yaml text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS freshpoc.ontology_proposals (
    id bigserial PRIMARY KEY,
    category text NOT NULL CHECK (category IN ('node', 'edge')),
    type_name text NOT NULL,
    analyzer text NOT NULL DEFAULT '',
    example text NOT NULL DEFAULT '',
    seen integer NOT NULL DEFAULT 0,
    repo_ids text[] NOT NULL DEFAULT '{}',
    status text NOT NULL DEFAULT 'proposed' CHECK (status IN ('proposed', 'approved', 'rejected')),
    decided_at timestamptz,
    decided_by text,
    note text,
    first_seen timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now(),
    UNIQUE (category, type_name)
);
CREATE TABLE IF NOT EXISTS freshpoc.graph_reprocess_marks (
    repo_id text NOT NULL,
    proposal_id bigint NOT NULL REFERENCES freshpoc.ontology_proposals(id),
    reason text NOT NULL,
    marked_at timestamptz NOT NULL DEFAULT now(),
    cleared_at timestamptz,
    PRIMARY KEY (repo_id, proposal_id)
);
"""


class OntologyLedgerHook(PostgresHook):
    """:class:`PostgresHook` on ``freshpoc_postgres`` with the ledger's operations."""

    default_conn_name = "freshpoc_postgres"

    def __init__(self, postgres_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(postgres_conn_id=postgres_conn_id, **kwargs)

    def ensure_tables(self) -> None:
        self.run(DDL, autocommit=True)

    # Versions --------------------------------------------------------------------------------
    def record_applied(self, version: str, schema_sha: str, dgraph_schema: str, ontology_yaml: str) -> bool:
        """True when this version is new to the ledger; re-applying the same version is a no-op,
        applying a *different* schema under a recorded version is refused (bump the version)."""
        rows = self.get_records("SELECT schema_sha FROM freshpoc.ontology_versions WHERE version = %s",
                                parameters=(version,))
        if rows:
            if rows[0][0] != schema_sha:
                raise ValueError(f"ontology {version} was applied with another schema; bump the version")
            return False
        self.run("INSERT INTO freshpoc.ontology_versions (version, schema_sha, dgraph_schema, ontology_yaml) "
                 "VALUES (%s, %s, %s, %s) ON CONFLICT (version) DO NOTHING",
                 parameters=(version, schema_sha, dgraph_schema, ontology_yaml), autocommit=True)
        return True

    def applied_versions(self) -> list[tuple[str, str]]:
        rows = self.get_records("SELECT version, schema_sha FROM freshpoc.ontology_versions "
                                "ORDER BY applied_at, version")
        return [(r[0], r[1]) for r in rows]

    # Proposals -------------------------------------------------------------------------------
    def propose(self, repo_id: str, proposed: Iterable[ProposedType]) -> int:
        """Record what a repository's analysis asked for; idempotent per (type, repository)."""
        n = 0
        for p in proposed:
            self.run(
                "INSERT INTO freshpoc.ontology_proposals "
                "(category, type_name, analyzer, example, seen, repo_ids) "
                "VALUES (%s, %s, %s, %s, %s, ARRAY[%s::text]) "
                "ON CONFLICT (category, type_name) DO UPDATE SET last_seen = now(), "
                "seen = GREATEST(freshpoc.ontology_proposals.seen, EXCLUDED.seen), "
                "repo_ids = CASE WHEN %s = ANY(freshpoc.ontology_proposals.repo_ids) "
                "THEN freshpoc.ontology_proposals.repo_ids "
                "ELSE array_append(freshpoc.ontology_proposals.repo_ids, %s::text) END",
                parameters=(p.category, p.type, p.analyzer, p.example[:500], p.count, repo_id, repo_id,
                            repo_id),
                autocommit=True)
            n += 1
        return n

    def proposals(self, status: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT id, category, type_name, analyzer, example, seen, repo_ids, status, decided_by, note "
               "FROM freshpoc.ontology_proposals")
        params: tuple[Any, ...] = ()
        if status:
            sql += " WHERE status = %s"
            params = (status,)
        cols = ("id", "category", "type", "analyzer", "example", "seen", "repo_ids", "status", "decided_by",
                "note")
        rows = self.get_records(sql + " ORDER BY id", parameters=params)
        return [dict(zip(cols, r, strict=True)) for r in rows]

    def decide(self, proposal_id: int, approve: bool, by: str = "", note: str = "") -> list[str]:
        """Approve or reject; approving marks every repository that asked for reprocessing.
        Returns the repositories marked (none on reject or when already decided the same way)."""
        status = "approved" if approve else "rejected"
        with self.get_conn() as conn, conn.cursor() as cur:
            cur.execute("SELECT status, repo_ids, category, type_name FROM freshpoc.ontology_proposals "
                        "WHERE id = %s FOR UPDATE", (proposal_id,))
            row = cur.fetchone()
            if row is None:
                raise KeyError(f"no ontology proposal {proposal_id}")
            cur.execute("UPDATE freshpoc.ontology_proposals SET status = %s, decided_at = now(), "
                        "decided_by = %s, note = %s WHERE id = %s", (status, by, note, proposal_id))
            marked: list[str] = []
            if approve:
                for repo in row[1]:
                    cur.execute("INSERT INTO freshpoc.graph_reprocess_marks (repo_id, proposal_id, reason) "
                                "VALUES (%s, %s, %s) ON CONFLICT DO NOTHING RETURNING repo_id",
                                (repo, proposal_id, f"ontology proposal {row[2]} {row[3]} approved"))
                    if cur.fetchone():
                        marked.append(repo)
            conn.commit()
        return marked

    def reprocess_marks(self, open_only: bool = True) -> list[dict[str, Any]]:
        sql = "SELECT repo_id, proposal_id, reason, cleared_at FROM freshpoc.graph_reprocess_marks"
        if open_only:
            sql += " WHERE cleared_at IS NULL"
        rows = self.get_records(sql + " ORDER BY repo_id, proposal_id")
        return [{"repo_id": r[0], "proposal_id": r[1], "reason": r[2], "cleared_at": r[3]} for r in rows]

    def forget_repository(self, repo_id: str) -> int:
        """Remove a repository from the ledger (its reprocess marks, its name on proposals, and
        the proposals only it asked for); returns how many proposals were dropped. For a
        repository deleted from the stack, e.g. one a test created."""
        with self.get_conn() as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM freshpoc.graph_reprocess_marks WHERE repo_id = %s", (repo_id,))
            cur.execute("DELETE FROM freshpoc.graph_reprocess_marks WHERE proposal_id IN (SELECT id FROM "
                        "freshpoc.ontology_proposals WHERE repo_ids = ARRAY[%s]::text[])", (repo_id,))
            cur.execute("DELETE FROM freshpoc.ontology_proposals WHERE repo_ids = ARRAY[%s]::text[]",
                        (repo_id,))
            dropped = cur.rowcount
            cur.execute("UPDATE freshpoc.ontology_proposals SET repo_ids = array_remove(repo_ids, %s) "
                        "WHERE %s = ANY(repo_ids)", (repo_id, repo_id))
            conn.commit()
        return dropped

    def clear_marks(self, repo_id: str) -> int:
        """Called by the pipeline after reprocessing ``repo_id``."""
        with self.get_conn() as conn, conn.cursor() as cur:
            cur.execute("UPDATE freshpoc.graph_reprocess_marks SET cleared_at = now() "
                        "WHERE repo_id = %s AND cleared_at IS NULL", (repo_id,))
            n = cur.rowcount
            conn.commit()
        return n
