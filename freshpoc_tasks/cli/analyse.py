"""``freshpoc analyse``: analyse one repository into a graph delta (JSONL), without Airflow.

Uses the miner's mirror cache and the analysis cache, so a second run over the same commit (or a
commit that changed a few files) only analyses what changed.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

DEFAULT_MIRRORS = Path(os.environ.get("FRESHPOC_MIRROR_CACHE", "~/.cache/freshpoc/mirrors")).expanduser()
DEFAULT_CACHE = Path(os.environ.get("FRESHPOC_ANALYSIS_CACHE", "~/.cache/freshpoc/analysis")).expanduser()


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "analyse",
        help="analyse a repository (Python, SQL, dbt, Pulumi, Airflow) into OUT/analysis.jsonl.gz",
        description=(
            "Resolve REPO at REF, read its source files from git objects and write the typed graph "
            "delta (nodes, edges, diagnostics) as JSONL. REPO is anything 'freshpoc mine' accepts."
        ),
    )
    p.add_argument("repo", metavar="REPO")
    p.add_argument("--ref", default="HEAD", help="branch, tag or sha (default: HEAD)")
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for analysis.jsonl.gz")
    p.add_argument("--mirrors", type=Path, default=DEFAULT_MIRRORS, help=f"mirror cache ({DEFAULT_MIRRORS})")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"analysis cache ({DEFAULT_CACHE})")
    p.add_argument("--no-cache", action="store_true", help="analyse every file again")
    p.add_argument("--no-fetch", action="store_true", help="use the cached mirror as it is")
    p.add_argument("--dialect", help="SQL dialect of plain .sql files (sqlglot name, e.g. snowflake)")
    p.add_argument("--warehouse", default="default", help="scope of sql.table ids (default: default)")
    p.add_argument("--time-budget", type=float, default=20.0, help="seconds per file before giving up")
    p.add_argument("--quiet", action="store_true", help="no progress output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from freshpoc_tasks.analysis.engine import ResultCache, RunStats, analyse_repository
    from freshpoc_tasks.analysis.gitsource import iter_source_files
    from freshpoc_tasks.analysis.model import AnalysisConfig
    from freshpoc_tasks.contracts.base import write_jsonl
    from freshpoc_tasks.mining import RefNotFoundError, UnsafeLocationError
    from freshpoc_tasks.mining.access import open_repository

    if not args.verbose:  # one "falling back to Command" line per odd statement is noise here
        logging.getLogger("sqlglot").setLevel(logging.ERROR)
    started = time.monotonic()
    try:
        repo = open_repository(args.repo, args.mirrors, fetch=not args.no_fetch)
        commit = repo.resolve(args.ref)
    except (UnsafeLocationError, RefNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = list(iter_source_files(repo, commit))
    tty = sys.stderr.isatty()

    def progress(n: int, total: int, path: str) -> None:
        if args.quiet:
            return
        if tty:
            print(f"\ranalysing {n}/{total} {path[-60:]:<60}", end="", file=sys.stderr, flush=True)
        elif n == total or n % 500 == 0:
            print(f"analysed {n}/{total} files", file=sys.stderr)

    stats = RunStats()
    config = AnalysisConfig(warehouse=args.warehouse, sql_dialect=args.dialect,
                            time_budget_s=args.time_budget)
    delta = analyse_repository(files, repo.repo_id, commit=commit, config=config,
                               cache=None if args.no_cache else ResultCache(args.cache),
                               progress=progress, stats=stats)
    if tty and not args.quiet:
        print(file=sys.stderr)
    out = args.out / "analysis.jsonl.gz"
    write_jsonl(out, delta.iter_records())
    counts = delta.counts()
    print(f"{repo.repo_id}@{commit[:12]}: {stats.files} files, {stats.analysed} analyzer runs + "
          f"{stats.cached} from cache, {stats.failed} with errors -> {counts['nodes']} nodes, "
          f"{counts['edges']} edges, "
          f"{counts['diagnostics']} diagnostics in {time.monotonic() - started:.1f}s -> {out}")
    return 0
