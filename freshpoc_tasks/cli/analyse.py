"""``freshpoc analyse``: analyse one repository into a graph delta (JSONL), without Airflow.

Uses the miner's mirror cache and the analysis cache, so a second run over the same commit (or a
commit that changed a few files) only analyses what changed.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

from freshpoc_tasks.contracts.locations import analysis_cache, mirror_cache

DEFAULT_MIRRORS = mirror_cache()
DEFAULT_CACHE = analysis_cache()


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
    from freshpoc_tasks.mining import RefNotFoundError, UnsafeLocationError
    from freshpoc_tasks.mining._git import GitError, escape_terminal_logs, one_line, printable
    from freshpoc_tasks.mining.access import open_repository

    if not getattr(args, "verbose", 0):  # one "falling back to Command" line per odd statement
        logging.getLogger("sqlglot").setLevel(logging.ERROR)
    escape_terminal_logs()  # log lines quote repository content (names, SQL): never raw
    started = time.monotonic()
    tty = sys.stderr.isatty()
    shown = [False]  # a progress line is on screen, to end before an error line

    def progress(n: int, total: int, path: str) -> None:
        if args.quiet:
            return
        if tty:
            # A file name is repository content: escaped, so it cannot drive the terminal.
            name = printable(path)[-60:]
            print(f"\ranalysing {n}/{total} {name:<60}", end="", file=sys.stderr, flush=True)
            shown[0] = True
        elif n == total or n % 500 == 0:
            print(f"analysed {n}/{total} files", file=sys.stderr)

    try:
        repo = open_repository(args.repo, args.mirrors, fetch=not args.no_fetch)
        commit = repo.resolve(args.ref)
        # The analysis stack (sqlglot, Jinja, every analyzer) is imported only for a repository
        # that opened: a refused or unreachable location fails in the time mining takes.
        from freshpoc_tasks.analysis.model import AnalysisConfig
        from freshpoc_tasks.analysis.stage import analyse_commit

        config = AnalysisConfig(warehouse=args.warehouse, sql_dialect=args.dialect,
                                time_budget_s=args.time_budget)
        result = analyse_commit(repo, commit, args.out, config=config, progress=progress,
                                result_cache=None if args.no_cache else args.cache)
    except (UnsafeLocationError, RefNotFoundError, GitError, OSError) as exc:
        # Unreachable remote, not a repository, blocked host, unwritable output: one line.
        if shown[0]:
            print(file=sys.stderr)
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    if shown[0]:
        print(file=sys.stderr)
    c = result.counts
    print(printable(f"{repo.repo_id}@{commit[:12]}: {c['files']} files, {c['analysed']} analyzer runs + "
                    f"{c['cached']} from cache, {c['failed']} with errors -> {c['nodes']} nodes, "
                    f"{c['edges']} edges, {c['diagnostics']} diagnostics in "
                    f"{time.monotonic() - started:.1f}s -> {result.artifact}"))
    return 0
