"""``freshpoc stack``: the local stack without Docker."""

from __future__ import annotations

import argparse
import sys

STACK_HELP = """\
Run FreshPoC's servers on this machine without Docker, under supervisord:
PostgreSQL, Kafka (KRaft), Dgraph (zero + alpha), MinIO, Weaviate, statsd_exporter, Prometheus
and Airflow (api-server, scheduler, dag-processor, triggerer). Missing servers are built or
installed on first use and cached by version in $FRESHPOC_HOME (default ~/.cache/freshpoc);
data lives in $FRESHPOC_STATE_DIR. Every server listens on 127.0.0.1 only.
"""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("stack", help="run the local stack without Docker",
                            description=STACK_HELP,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True

    up = verbs.add_parser("up", help="build what is missing, start everything, wait until healthy",
                          description="Build or install missing servers and the assets the "
                          "served pages read (embedding model, Mermaid bundle), start every "
                          "service, wait for each health check, apply airflow_settings.yaml and "
                          "the graph schema, then print the status table. Safe to repeat.")
    up.add_argument("services", nargs="*", metavar="SERVICE",
                    help="start only these services (default: all)")
    up.add_argument("--no-settings", action="store_true",
                    help="do not apply airflow_settings.yaml after Airflow is healthy")
    up.set_defaults(func=_up)

    down = verbs.add_parser("down", help="stop every server (data is kept)")
    down.set_defaults(func=_down)

    status = verbs.add_parser("status", help="print service, version, port, state and log path")
    status.set_defaults(func=_status)

    logs = verbs.add_parser("logs", help="show the logs of one service, or of all")
    logs.add_argument("service", nargs="?", help="service or program name, e.g. kafka, "
                      "dgraph, airflow-scheduler (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=50, help="lines per file (default 50)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following")
    logs.set_defaults(func=_logs)

    reset = verbs.add_parser("reset", help="stop the stack and delete its data (asks first)")
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=_reset)


def _stack(only: list[str] | None = None):  # imported lazily: keeps 'freshpoc --help' fast
    from freshpoc_tasks.stack.manager import Stack

    return Stack(only=only)


def _guard(fn):
    def wrapper(args: argparse.Namespace) -> int:
        from freshpoc_tasks.stack.build import BuildError
        from freshpoc_tasks.stack.manager import StackError

        try:
            return fn(args)
        except (StackError, BuildError) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return wrapper


@_guard
def _up(args: argparse.Namespace) -> int:
    from freshpoc_tasks.stack.manager import format_table

    stack = _stack(args.services or None)
    rows = stack.up()
    if not args.no_settings and stack.service("airflow") in stack.selected:
        from freshpoc_tasks.stack.settings import apply_settings

        summary = apply_settings(stack.cfg.checkout / "airflow_settings.yaml", stack.cfg.airflow_url)
        print(f"==> airflow_settings.yaml applied: {summary}")
    if {"dgraph", "postgres"} <= {s.name for s in stack.selected}:
        _migrate_graph(stack)
    print(format_table(rows))
    print(f"\nAirflow UI: {stack.cfg.airflow_url}  (login admin / admin)")
    wanted = {s.name for s in stack.selected}
    return 0 if all(r.state == "healthy" for r in rows if r.service in wanted) else 1


def _migrate_graph(stack) -> None:
    """The graph's schema and its ledger row, so the query API and the report browser answer
    (an empty list, not 503) before the first pipeline run has written anything."""
    from freshpoc_tasks.cli.graph import migrate
    from freshpoc_tasks.stack.client import describe, use_local_stack
    from freshpoc_tasks.stack.manager import StackError

    use_local_stack(stack.cfg)
    try:
        print(f"==> graph schema: {migrate()}", flush=True)
    except Exception as exc:
        raise StackError(f"applying the graph schema failed: {describe(exc)}") from exc


@_guard
def _down(args: argparse.Namespace) -> int:
    _stack().down()
    return 0


@_guard
def _status(args: argparse.Namespace) -> int:
    from freshpoc_tasks.stack.manager import format_table

    rows = _stack().status()
    print(format_table(rows))
    return 0 if all(r.state == "healthy" for r in rows) else 3


@_guard
def _logs(args: argparse.Namespace) -> int:
    return _stack().logs(args.service, args.lines, args.follow)


@_guard
def _reset(args: argparse.Namespace) -> int:
    _stack().reset(args.yes)
    return 0
