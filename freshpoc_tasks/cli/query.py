"""``freshpoc lineage``, ``deps`` and ``node``: questions to a local graph, without servers.

They read the graph ``freshpoc report`` keeps in ``OUT/graph`` through
:class:`~freshpoc_tasks.graph.local_store.LocalStore`, which answers the same questions the query
API asks Dgraph (:class:`~freshpoc_tasks.graph.queries.GraphQuestions`), with the same meaning:
which edges a lineage or dependency walk follows, what "valid at a commit" is.

NODE is a node id (``dbt.model:local/jaffle_shop:model.jaffle_shop.orders``) or, for convenience,
a key, name or path that names exactly one current node (``model.jaffle_shop.orders``, ``orders``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

DEFAULT_GRAPH = Path("freshpoc-report")


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    for name, help_, default_dir, default_depth in (
        ("lineage", "data lineage of a column, table or dbt model in a local graph (up: sources)", "up", 3),
        ("deps", "dependencies of a node in a local graph (down: what it uses; up: what uses it)", "down", 1),
    ):
        p = subparsers.add_parser(name, help=help_, description=help_ + ". " + __doc__.split("\n\n")[2])
        _common(p)
        way = p.add_mutually_exclusive_group()
        way.add_argument("--up", dest="direction", action="store_const", const="up",
                         help="upstream" + (" (default)" if default_dir == "up" else ""))
        way.add_argument("--down", dest="direction", action="store_const", const="down",
                         help="downstream" + (" (default)" if default_dir == "down" else ""))
        p.add_argument("--depth", type=int, default=default_depth,
                       help=f"hops, 1-10 (default {default_depth})")
        p.add_argument("--edges", action="store_true", help="also list the edges walked")
        p.set_defaults(func=run_walk, question=name, direction=None,
                       default_direction=default_dir)
    p = subparsers.add_parser("node", help="one node of a local graph: type, place, validity, files",
                              description="Show one node of a local graph. " + __doc__.split("\n\n")[2])
    _common(p)
    p.set_defaults(func=run_node)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("node", metavar="NODE", help="node id, or a key/name/path naming one node")
    p.add_argument("--graph", type=Path, default=DEFAULT_GRAPH, metavar="DIR",
                   help=f"output folder of 'freshpoc report' (default: ./{DEFAULT_GRAPH})")
    p.add_argument("--at", metavar="SHA", help="as of this processed commit (sha prefix) instead of now")
    p.add_argument("--json", action="store_true", help="print the answer as JSON")


def _open(args: argparse.Namespace) -> tuple[Any, int | None, str] | None:
    """(store, at_us, xid) or None after printing one clear line on stderr."""
    from freshpoc_tasks.graph.local_store import LocalStore

    try:
        store = LocalStore.open(args.graph)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    at_us = None
    if args.at:
        found = {(us, sha) for points in store.graph.timelines.values() for us, sha in points
                 if sha.startswith(args.at.lower())}
        if len(found) != 1:
            print(f"error: {args.at} is {'ambiguous' if found else 'not a processed commit'} in {args.graph}",
                  file=sys.stderr)
            return None
        at_us = found.pop()[0]
    hits = store.find(args.node, at_us)
    if len(hits) != 1:
        if not hits:
            print(f"error: no node {args.node!r} in {args.graph}", file=sys.stderr)
        else:
            print(f"error: {args.node!r} names {len(hits)}+ nodes; give one id:", file=sys.stderr)
            for h in hits:
                print(f"  {h['xid']}", file=sys.stderr)
        return None
    return store, at_us, hits[0]["xid"]


def run_walk(args: argparse.Namespace) -> int:
    opened = _open(args)
    if opened is None:
        return 2
    store, at_us, xid = opened
    direction = args.direction or args.default_direction
    try:
        t = store.walk(args.question, xid, direction, args.depth, at_us=at_us)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"root": t.root, "question": args.question, "direction": direction,
                          "depth": args.depth, "nodes": t.nodes, "edges": t.edges}, indent=1))
        return 0
    root = t.root or {}
    print(f"{args.question} {direction} of {root.get('name') or xid} ({root.get('type')}), "
          f"{args.depth} hop(s): {len(t.nodes)} node(s)")
    for n in t.nodes:
        print(f"  {n['depth']}  {n.get('type') or '':<16} {n.get('name') or '':<32} {n['xid']}")
    if args.edges:
        for e in t.edges:
            print(f"  {e['type']:<14} {e['src']} -> {e['dst']}")
    return 0


def run_node(args: argparse.Namespace) -> int:
    opened = _open(args)
    if opened is None:
        return 2
    store, at_us, xid = opened
    info = store.node(xid, at_us)
    if args.json:
        print(json.dumps(info, indent=1))
        return 0
    from freshpoc_tasks.graph.validity import from_us

    for key, value in (info or {}).items():
        if key in ("valid_from", "valid_to") and isinstance(value, int):
            value = f"{from_us(value).isoformat()} ({value})"  # commit time, and the stored µs
        if value not in (None, [], ""):
            print(f"{key:>11}: {', '.join(value) if isinstance(value, list) else value}")
    return 0
