"""Entry point of the ``freshpoc`` command.

Each subcommand lives in its own module under ``freshpoc_tasks.cli`` and exposes
``register(subparsers)``; modules are imported only when listed here, so a slow import in one
subcommand (Airflow, say) never slows ``freshpoc --help`` or the others.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from freshpoc_tasks import __version__

# Subcommand modules, in the order ``--help`` shows them.
COMMANDS: tuple[str, ...] = ("report", "query", "mcp", "stack", "settings", "demo", "mine", "analyse",
                            "graph", "dlq", "backup")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="freshpoc",
        description=(
            "FreshPoC turns git repositories into a queryable code knowledge graph, "
            "orchestrated by Apache Airflow 3."
        ),
        epilog="Run 'freshpoc COMMAND --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"freshpoc {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (repeat for debug)"
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"freshpoc_tasks.cli.{name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `freshpoc deps X | head`: the reader left. Point stdout at /dev/null so the interpreter's
        # final flush does not raise again, and exit as a shell expects of a killed writer.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
