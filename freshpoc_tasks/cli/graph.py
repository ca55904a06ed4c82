"""``freshpoc graph``: the graph stage by hand — schema, migration, writes, proposals, export.

Talks to the servers through the project's hooks (Airflow connections ``freshpoc_dgraph`` and
``freshpoc_postgres``), like the operators do. From a plain shell the connections come from the
checkout's ``airflow_settings.yaml`` (:func:`freshpoc_tasks.stack.client.use_local_stack`, as
``freshpoc demo`` does); ``AIRFLOW_CONN_*`` variables already set win. Errors are one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path

from freshpoc_tasks.stack.client import one_line_errors, use_local_stack


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("graph", help="Dgraph schema, migrations, writes, ontology proposals, export",
                              description="Work with the code knowledge graph in Dgraph.")
    p.add_argument("--dgraph-conn", default="freshpoc_dgraph", help="Airflow connection of the Dgraph alpha")
    p.add_argument("--postgres-conn", default="freshpoc_postgres", help="Airflow connection of the ledger")
    p.add_argument("--ontology", type=Path, help="ontology.yaml (default: include/ontology/ontology.yaml)")
    sub = p.add_subparsers(dest="graph_command", metavar="ACTION", required=True)
    sub.add_parser("schema", help="print the Dgraph schema generated from the ontology")
    m = sub.add_parser("migrate", help="apply the schema and record the version in the ledger and the graph")
    m.add_argument("--check", action="store_true",
                   help="only say whether the graph and the ledger are at this ontology version (no writes)")
    w = sub.add_parser("write", help="write a graph delta (JSONL, .gz ok) at its commit")
    w.add_argument("delta", type=Path, nargs="+", help="delta files of ONE repo+commit (merged)")
    w.add_argument("--committed-at", required=True, type=datetime.fromisoformat, help="commit time (ISO)")
    w.add_argument("--diff-out", type=Path, help="write the per-commit diff artifact here (JSONL)")
    pr = sub.add_parser("proposals", help="list, approve or reject ontology proposals")
    pr.add_argument("action", choices=["list", "approve", "reject"], nargs="?", default="list")
    pr.add_argument("id", type=int, nargs="?", help="proposal id (approve/reject)")
    pr.add_argument("--by", default="cli", help="who decides (recorded)")
    pr.add_argument("--note", default="", help="why (recorded)")
    e = sub.add_parser("export", help="canonical export (JSON lines, no uids) to stdout or --out")
    e.add_argument("--out", type=Path)
    p.set_defaults(func=run)


@one_line_errors
def run(args: argparse.Namespace) -> int:
    from freshpoc_tasks.graph.ontology import generate_schema, load_graph_ontology, schema_sha

    onto = load_graph_ontology(args.ontology)
    if args.graph_command == "schema":
        sys.stdout.write(generate_schema(onto))
        return 0
    use_local_stack()
    if args.graph_command == "proposals":
        return _proposals(args)

    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook(args.dgraph_conn) as hook:
        writer = GraphWriter(hook, onto)
        if args.graph_command == "migrate" and args.check:
            return _check(args, hook, onto, schema_sha(generate_schema(onto)))
        if args.graph_command == "migrate":
            print(_migrate(writer, args.postgres_conn))
            return 0
        if args.graph_command == "write":
            return _write(args, writer)
        if args.graph_command == "export":
            from freshpoc_tasks.graph.export import canonical_export

            out = open(args.out, "w", encoding="utf-8") if args.out else sys.stdout  # noqa: SIM115
            lines = 0
            try:
                for line in canonical_export(hook, onto):
                    out.write(line + "\n")
                    lines += 1
            finally:
                if args.out:
                    out.close()
            if args.out:
                print(f"{lines} lines written to {args.out}")
            return 0
    return 2


def migrate(dgraph_conn: str = "freshpoc_dgraph", postgres_conn: str = "freshpoc_postgres") -> str:
    """Apply the ontology's schema to Dgraph and record it in the ledger (what ``freshpoc stack
    up`` does once the servers are healthy, so the API answers before any pipeline run);
    returns one line saying what happened."""
    from freshpoc_tasks.graph.writer import GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    with DgraphHook(dgraph_conn) as hook:
        return _migrate(GraphWriter(hook), postgres_conn)


def _migrate(writer: object, postgres_conn: str) -> str:
    from freshpoc_tasks.graph.ontology import schema_sha
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook

    schema = writer.ensure_schema()  # type: ignore[attr-defined]
    onto = writer.onto  # type: ignore[attr-defined]
    ledger = OntologyLedgerHook(postgres_conn)
    ledger.ensure_tables()
    new = ledger.record_applied(onto.version, schema_sha(schema), schema, onto.source)
    marked = writer.mark_gaps()  # type: ignore[attr-defined]
    filled = writer.backfill_aggregates()  # type: ignore[attr-defined]
    note = f"; aggregates computed for {len(filled)} repositories' newest commits" if filled else ""
    note += f"; {marked} nodes with a gap in their history marked" if marked else ""
    return f"ontology {onto.version} applied ({'new' if new else 'already recorded'}){note}"


def _check(args: argparse.Namespace, hook: object, onto: object, sha: str) -> int:
    """Read-only migrate: is this ontology's schema in the graph and in the ledger?"""
    from freshpoc_tasks.graph.records import ontology_xid
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook

    version = onto.version  # type: ignore[attr-defined]
    found = hook.query("query q($x: string) { o(func: eq(xid, $x)) { fp_schema_sha } }",  # type: ignore[attr-defined]
                       {"$x": ontology_xid(version)})
    in_graph = [o.get("fp_schema_sha") for o in found.get("o", [])] == [sha]
    ledger = OntologyLedgerHook(args.postgres_conn)
    ledger.ensure_tables()
    recorded = dict(ledger.applied_versions())
    in_ledger = recorded.get(version) == sha
    print(f"ontology {version}: graph {'up to date' if in_graph else 'NOT migrated'}, "
          f"ledger {'up to date' if in_ledger else 'NOT recorded'}"
          + ("" if in_graph and in_ledger else "; run 'freshpoc graph migrate'"))
    return 0 if in_graph and in_ledger else 3


def _write(args: argparse.Namespace, writer: object) -> int:
    from freshpoc_tasks.contracts.base import read_jsonl, write_jsonl
    from freshpoc_tasks.contracts.graph import GRAPH_RECORDS, GraphDelta
    from freshpoc_tasks.graph.from_mining import merge_deltas

    deltas = [GraphDelta.from_records(read_jsonl(p, GRAPH_RECORDS)) for p in args.delta]
    delta = merge_deltas(*deltas)
    result = writer.apply(delta, committed_at=args.committed_at)  # type: ignore[attr-defined]
    if args.diff_out:
        write_jsonl(args.diff_out, [result.diff])
    print(json.dumps({"repo_id": result.repo_id, "commit": result.commit, "counts": result.counts,
                      "diff": result.diff.summary(), "skipped": len(result.skipped),
                      "proposed": len(result.proposed)}, sort_keys=True))
    return 0


def _proposals(args: argparse.Namespace) -> int:
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook

    ledger = OntologyLedgerHook(args.postgres_conn)
    ledger.ensure_tables()
    if args.action == "list":
        rows = ledger.proposals()
        if not rows:
            print("no ontology proposals")
        for row in rows:
            print(f"{row['id']:>5} {row['status']:<9} {row['category']:<5} {row['type']:<30} "
                  f"seen={row['seen']} repos={','.join(row['repo_ids'])}")
        return 0
    if args.id is None:
        print("error: give the proposal id", file=sys.stderr)
        return 2
    try:
        marked = ledger.decide(args.id, approve=args.action == "approve", by=args.by, note=args.note)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"proposal {args.id} {args.action}d; marked for reprocessing: {', '.join(marked) or 'none'}")
    return 0
