"""``freshpoc stack``: the local stack without Docker."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from urllib.parse import urlencode

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
    # Every verb takes the profile: ``freshpoc stack up --profile cluster``.
    profile = argparse.ArgumentParser(add_help=False)
    profile.add_argument("--profile", choices=["default", "cluster"], default="default",
                         help="default: one instance of each server; cluster: CeleryExecutor "
                         "with two workers, three Dgraph alphas, three Kafka brokers, with its "
                         "own ports and state ($FRESHPOC_CLUSTER_STATE_DIR)")

    up = verbs.add_parser("up", help="build what is missing, start everything, wait until healthy",
                          parents=[profile],
                          description="Build or install missing servers and the assets the "
                          "served pages read (embedding model, Mermaid bundle), start every "
                          "service, wait for each health check, apply airflow_settings.yaml and "
                          "the graph schema, then print the status table. Safe to repeat.")
    up.add_argument("services", nargs="*", metavar="SERVICE",
                    help="start only these services (default: all)")
    up.add_argument("--no-settings", action="store_true",
                    help="do not apply airflow_settings.yaml after Airflow is healthy")
    up.set_defaults(func=_up)

    down = verbs.add_parser("down", help="stop every server (data is kept)", parents=[profile])
    down.set_defaults(func=_down)

    status = verbs.add_parser("status", help="print service, version, port, state, health endpoint "
                              "and log path", parents=[profile])
    status.set_defaults(func=_status)

    logs = verbs.add_parser("logs", help="show the logs of one service, or of all",
                            parents=[profile])
    logs.add_argument("service", nargs="?", help="service or program name, e.g. kafka, "
                      "dgraph, airflow-scheduler (default: all)")
    logs.add_argument("-n", "--lines", type=int, default=50, help="lines per file (default 50)")
    logs.add_argument("-f", "--follow", action="store_true", help="keep following")
    logs.set_defaults(func=_logs)

    reset = verbs.add_parser("reset", help="stop the stack and delete its data (asks first)",
                             parents=[profile])
    reset.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    reset.set_defaults(func=_reset)

    panels = verbs.add_parser(
        "panels", help="the Grafana dashboards' panel queries, as links into Prometheus's UI",
        description="The local stack runs no Grafana (AGPL; docker-compose.yaml provisions it with "
        "include/monitoring/grafana/dashboards). This prints every panel's PromQL as a Markdown "
        "list of links that open it in the local Prometheus's own UI.")
    panels.add_argument("--prometheus-url", help="Prometheus to link to (default: the local stack's)")
    panels.set_defaults(func=_panels)


def _stack(args: argparse.Namespace, only: list[str] | None = None):
    from freshpoc_tasks.stack.manager import Stack  # lazily: keeps 'freshpoc --help' fast

    return Stack(only=only, profile=getattr(args, "profile", "default"))


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

    stack = _stack(args, args.services or None)
    rows = stack.up()
    if not args.no_settings and stack.service("airflow") in stack.selected:
        from freshpoc_tasks.stack.settings import apply_settings

        summary = apply_settings(stack.settings_file, stack.cfg.airflow_url)
        shown = stack.settings_file if stack.profile == "cluster" else stack.settings_file.name
        print(f"==> {shown} applied: {summary}")
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

    if stack.profile == "cluster":
        from freshpoc_tasks.stack.cluster import use_cluster

        use_cluster(stack.cfg)
    else:
        use_local_stack(stack.cfg)
    try:
        print(f"==> graph schema: {migrate()}", flush=True)
    except Exception as exc:
        raise StackError(f"applying the graph schema failed: {describe(exc)}") from exc


@_guard
def _down(args: argparse.Namespace) -> int:
    _stack(args).down()
    return 0


@_guard
def _status(args: argparse.Namespace) -> int:
    from freshpoc_tasks.stack.manager import format_table

    rows = _stack(args).status()
    print(format_table(rows))
    return 0 if all(r.state == "healthy" for r in rows) else 3


@_guard
def _logs(args: argparse.Namespace) -> int:
    return _stack(args).logs(args.service, args.lines, args.follow)


@_guard
def _reset(args: argparse.Namespace) -> int:
    _stack(args).reset(args.yes)
    return 0


# Dashboards without Grafana ------------------------------------------------------------------
def dashboards_dir(checkout: Path) -> Path:
    return checkout / "include" / "monitoring" / "grafana" / "dashboards"


def panel_queries(directory: Path) -> list[tuple[str, str, str]]:
    """(dashboard title, panel title, PromQL) of every query of every dashboard, in file and
    panel order."""
    found = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text())
        for panel in board.get("panels", []):
            for target in panel.get("targets", []):
                if target.get("expr"):
                    found.append((board["title"], panel["title"], target["expr"]))
    return found


def prometheus_link(base_url: str, expr: str, range_input: str = "6h") -> str:
    """A link that opens ``expr`` in Prometheus's own expression browser (graph tab)."""
    query = urlencode({"g0.expr": expr, "g0.tab": "0", "g0.range_input": range_input})
    return f"{base_url.rstrip('/')}/graph?{query}"


def panels_markdown(base_url: str, directory: Path) -> str:
    """The generated list: one section per dashboard, one link per panel query."""
    lines = ["# Dashboard panels in Prometheus's UI", "",
             "Generated by `freshpoc stack panels` from include/monitoring/grafana/dashboards/*.json "
             f"for Prometheus at {base_url}.", ""]
    current = None
    for board, panel, expr in panel_queries(directory):
        if board != current:
            lines += ["", f"## {board}", ""] if current else [f"## {board}", ""]
            current = board
        lines.append(f"- [{panel}]({prometheus_link(base_url, expr)}): `{expr}`")
    return "\n".join(lines) + "\n"


def _panels(args: argparse.Namespace) -> int:
    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    base = args.prometheus_url or f"http://127.0.0.1:{cfg.ports['prometheus']}"
    sys.stdout.write(panels_markdown(base, dashboards_dir(cfg.checkout)))
    return 0
