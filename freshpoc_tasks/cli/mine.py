"""``freshpoc mine``: mine one repository into a JSONL stage file, without Airflow.

Handy for trying a repository locally and for backfills by hand; it calls the same
``mine_repository`` as the Airflow operator, so what you see here is what the DAG stages.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from freshpoc_tasks.contracts.locations import mirror_cache

DEFAULT_CACHE = mirror_cache()


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser(
        "mine",
        help="mine a repository (inventory + history) into OUT/mine.jsonl.gz",
        description=(
            "Clone or fetch REPO into a bare mirror cache, resolve a commit and write its file "
            "inventory, commit stream and history aggregates as JSONL. REPO is an https, ssh or "
            "git URL, user@host:path, or a local path starting with /, ./ or ../."
        ),
    )
    p.add_argument("repo", metavar="REPO")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--ref", help="branch, tag or sha (default: the remote's HEAD)")
    which.add_argument(
        "--as-of", type=datetime.fromisoformat, metavar="DATE",
        help="mine the main-line commit current at this ISO date (naive means UTC), for backfills",
    )  # fmt: skip
    p.add_argument("--out", required=True, type=Path, metavar="DIR", help="directory for mine.jsonl.gz")
    p.add_argument(
        "--cache", type=Path, default=DEFAULT_CACHE, help=f"mirror cache (default {DEFAULT_CACHE})"
    )
    p.add_argument(
        "--previous", type=Path, metavar="FILE", help="earlier mine.jsonl.gz: mine only newer commits"
    )
    p.add_argument(
        "--token-env", metavar="VAR",
        help="name of an environment variable holding an access token for a private https remote",
    )  # fmt: skip
    p.add_argument("--max-bytes", type=int, default=2 * 1024 * 1024, help="skip content above this size")
    p.add_argument("--merges", choices=("exclude", "include", "first_parent"), default="exclude")
    p.add_argument(
        "--renames", choices=("follow", "off"), default="follow",
        help="follow (default): a file's history continues across renames, so a moved file keeps "
        "its revisions, authors and couplings (what hotspots and ownership need); a split (the old "
        "path added again by the renaming commit or its child) is not followed. off: every path "
        "counts exactly its own changes, as 'git log --numstat --no-renames' does",
    )  # fmt: skip
    p.add_argument(
        "--bots", choices=("exclude", "include"), default="exclude",
        help="exclude (default): commits of bots (dependabot, renovate, github-actions, *[bot]) stay "
        "in the commit stream, flagged, but out of every aggregate, since a bot bumping lock files "
        "every day would otherwise top the hotspots and own files. include: counted like people",
    )  # fmt: skip
    p.add_argument("--max-changeset-size", type=int, default=30, help="code-maat: larger commits ignored")
    p.add_argument("--min-revs", type=int, default=5, help="code-maat: min average revisions of a pair")
    p.add_argument("--min-shared-revs", type=int, default=5, help="code-maat: min shared revisions")
    p.add_argument("--min-coupling", type=float, default=30.0, help="code-maat: min degree, percent")
    p.add_argument("--max-coupling", type=float, default=100.0, help="code-maat: max degree, percent")
    p.add_argument("--no-fetch", action="store_true", help="use the cached mirror as it is")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from freshpoc_tasks.contracts.mining import MiningOptions
    from freshpoc_tasks.mining import Credentials, RefNotFoundError, UnsafeLocationError, mine_repository
    from freshpoc_tasks.mining._git import GitError, escape_terminal_logs, one_line, printable

    credentials = None
    if args.token_env:
        token = os.environ.get(args.token_env)
        if not token:
            print(f"error: environment variable {printable(args.token_env)} is empty", file=sys.stderr)
            return 2
        credentials = Credentials(token=token)
    try:
        options = MiningOptions(
            merges=args.merges,
            bots=args.bots,
            detect_renames=args.renames == "follow",
            max_changeset_size=args.max_changeset_size,
            min_revisions=args.min_revs,
            min_shared_revisions=args.min_shared_revs,
            min_coupling=args.min_coupling,
            max_coupling=args.max_coupling,
        )
    except ValueError as exc:
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2

    escape_terminal_logs()  # log lines quote repository content (names, SQL): never raw
    interactive = sys.stderr.isatty()

    def progress(done: int) -> None:
        end = "\r" if interactive else "\n"
        print(f"  {done} commits mined", end=end, file=sys.stderr, flush=True)

    try:
        result = mine_repository(
            args.repo,
            args.out,
            cache_dir=args.cache,
            ref=args.ref,
            as_of=args.as_of,
            credentials=credentials,
            options=options,
            max_bytes=args.max_bytes,
            previous=args.previous,
            progress=progress,
            fetch=not args.no_fetch,
        )
    except (UnsafeLocationError, RefNotFoundError, GitError, ValueError, OSError) as exc:
        if interactive:
            print(file=sys.stderr)
        # One line, escaped: git's stderr and the repository's names are not ours to print raw.
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 2
    if interactive:
        print(file=sys.stderr)
    mode = f"incremental after {result.base_commit[:12]}" if result.base_commit else "full"
    print(printable(f"{result.repo_id} @ {result.commit[:12]} ({mode}) -> {result.artifact}"))
    for name, value in result.counts.items():
        print(f"  {name:15} {value}")
    return 0
