"""Benchmark: GraphWriter vs ``dgraph live`` on the same data, each into a fresh private Dgraph.

    .venv/bin/python benchmarks/graph_write.py [--files 1000] [--functions 10] [--sweep]

Run it from the checkout with the project's interpreter (``.venv/bin/python``, after
``make venv``; ``make bench`` runs it with the others), once ``freshpoc stack up`` has built
Dgraph: it needs no running server and no reference checkout.

Starts private Dgraph instances the project's way (``Stack(only=["dgraph"])`` with their own
state folder and ports; the shared stack is never touched), writes one synthetic delta through
``GraphWriter`` into one and loads the same records as RDF (``export.delta_to_rdf``: same
predicates, validity and facets) with ``dgraph live`` into another, prints both throughputs in
records (node predicates count once per node, edges once) per second, the ratio (goal >= 0.5),
then the time of an idempotent second write. ``--sweep`` also times batch sizes, which is how
``writer.DEFAULT_BATCH`` was chosen.
"""

from __future__ import annotations

import argparse
import gzip
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("FRESHPOC_CHECKOUT", str(ROOT))

from freshpoc_tasks.testing.private import PrivateDgraph  # noqa: E402 (after the path set-up)


def Private(root: Path) -> PrivateDgraph:
    """A fresh private Dgraph per measured run, in its own folder under ``root``."""
    return PrivateDgraph(root / uuid.uuid4().hex[:8], timeout=600)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--functions", type=int, default=10)
    ap.add_argument("--sweep", action="store_true", help="also time batch sizes 250/500/1000/2000")
    ap.add_argument("--workers", type=int, default=None, help="concurrent transactions (default: writer's)")
    args = ap.parse_args()

    from freshpoc_tasks.graph.export import delta_to_rdf
    from freshpoc_tasks.graph.ontology import generate_schema, load_graph_ontology
    from freshpoc_tasks.graph.synthetic import synthetic_delta
    from freshpoc_tasks.graph.writer import DEFAULT_BATCH, DEFAULT_WORKERS, GraphWriter
    from freshpoc_tasks.hooks.dgraph import DgraphHook

    onto = load_graph_ontology()
    delta = synthetic_delta("bench/repo", "c" * 40, files=args.files, functions_per_file=args.functions)
    when = datetime(2024, 1, 1, tzinfo=UTC)
    records = len(delta.nodes) + len(delta.edges)
    print(f"data: {len(delta.nodes)} nodes + {len(delta.edges)} edges = {records} records")
    home = Path(os.environ.get("FRESHPOC_HOME", Path.home() / ".cache" / "freshpoc"))
    binary = home / "bin" / "dgraph-v25.4.0"

    with tempfile.TemporaryDirectory(prefix="graph-bench-") as tmp:
        root = Path(tmp)
        rdf = root / "delta.rdf.gz"
        with gzip.open(rdf, "wt", encoding="utf-8") as fh:
            for line in delta_to_rdf(delta, when, onto):
                fh.write(line + "\n")
        schema_file = root / "schema.dql"
        schema_file.write_text(generate_schema(onto))

        with Private(root) as pd:
            hook = DgraphHook(pd.conn_id)
            hook.alter_schema(generate_schema(onto))
            cmd = [str(binary), "live", "-f", str(rdf), "-a", f"127.0.0.1:{pd.cfg.ports['dgraph_grpc']}",
                   "-z", f"127.0.0.1:{pd.cfg.ports['dgraph_zero_grpc']}", "-x", str(root / "xidmap")]
            t = time.monotonic()
            proc = subprocess.run(cmd, capture_output=True, text=True, cwd=root)
            live_s = time.monotonic() - t
            if proc.returncode != 0:
                print(proc.stdout[-2000:], proc.stderr[-2000:])
                return 1
            hook.close()

        with Private(root) as pd:
            hook = DgraphHook(pd.conn_id)
            writer = GraphWriter(hook, onto, batch_size=DEFAULT_BATCH,
                                 workers=args.workers or DEFAULT_WORKERS)
            writer.ensure_schema()
            t = time.monotonic()
            first = writer.apply(delta, committed_at=when)
            ours_s = time.monotonic() - t
            t = time.monotonic()
            second = writer.apply(delta, committed_at=when)
            again_s = time.monotonic() - t
            assert sum(second.counts.values()) == 0, second.counts
            hook.close()
        sweep = {}
        for size in (250, 500, 1000, 2000) if args.sweep else ():
            with Private(root) as pd:  # a fresh database per size: drop_all leaves compaction work
                hook = DgraphHook(pd.conn_id)
                w = GraphWriter(hook, onto, batch_size=size)
                w.ensure_schema()
                t = time.monotonic()
                w.apply(delta, committed_at=when)
                sweep[size] = time.monotonic() - t
                hook.close()

    live_rate, ours_rate = records / live_s, records / ours_s
    print(f"dgraph live : {live_s:7.2f} s  {live_rate:9.0f} records/s")
    print(f"GraphWriter : {ours_s:7.2f} s  {ours_rate:9.0f} records/s  "
          f"(read {first.timings['read_s']:.2f} s, plan {first.timings['plan_s']:.2f} s, "
          f"aggregates {first.timings.get('aggregates_s', 0.0):.2f} s, "
          f"write {first.timings['write_s']:.2f} s, {first.transactions} transactions, "
          f"{writer.workers} in flight)")
    print(f"ratio       : {ours_rate / live_rate:.2f}x dgraph live (goal >= 0.5x)")
    print(f"idempotent second run: {again_s:.2f} s, counts {second.counts}")
    for size, secs in sweep.items():
        print(f"batch {size:>5}: {secs:6.2f} s  {records / secs:9.0f} records/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
