"""``freshpoc mcp --graph DIR``: the MCP server over a local graph, on stdio, with no server.

An MCP client (a coding agent, an IDE) starts this command and talks to it over stdin/stdout; it
answers the same tools as the stack's ``/freshpoc/mcp`` endpoint from the output folder of
``freshpoc report``. stdout belongs to the protocol: everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_GRAPH = Path("freshpoc-report")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "mcp", help="MCP server (stdio) over a local graph, for coding agents",
        description=("Serve the graph questions (search, node, dependencies, lineage, impact, hotspots, "
                     "owners, graph_diff, run_saved_query) as an MCP server on stdin/stdout, over the "
                     "output folder of 'freshpoc report'. Add it to an MCP client as the command "
                     "'freshpoc mcp --graph DIR'."))
    p.add_argument("--graph", type=Path, default=DEFAULT_GRAPH, metavar="DIR",
                   help=f"output folder of 'freshpoc report' (default: ./{DEFAULT_GRAPH})")
    p.add_argument("--check", action="store_true",
                   help="open the graph, print the tools and repositories, and exit (no protocol on stdout)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from freshpoc_tasks.mcp import INSTALL_HINT

    try:
        from freshpoc_tasks.mcp.local import LocalBackend
        from freshpoc_tasks.mcp.server import build_server
    except ImportError as exc:
        if (exc.name or "").split(".")[0] not in {"mcp", "mcp_types"}:
            raise
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return 2
    try:
        backend = LocalBackend(args.graph)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = build_server(backend)
    if args.check:
        import anyio

        names = [t.name for t in anyio.run(server.list_tools)]
        print(f"tools: {', '.join(names)}")
        print(f"repositories: {', '.join(backend.repositories()) or '(none)'}")
        return 0
    server.run("stdio")
    return 0
