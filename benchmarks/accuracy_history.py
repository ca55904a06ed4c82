"""Accuracy: per-file history of ``freshpoc mine`` against ``git log --numstat --no-renames``.

    .venv/bin/python benchmarks/accuracy_history.py --repo /work/refs/flask-history [--ref HEAD]

``--repo`` is a local clone with full history (not shallow) of any repository, e.g. pallets/flask.
The command under test is the real CLI, ``freshpoc mine REPO --renames off --bots include``
(merges excluded, its default), run in a throwaway output and mirror folder.  The oracle is git
itself, on the same commit: ``git log --no-merges --numstat --no-renames``, counted per path
exactly as git prints it (a revision per line, ``-`` for binary files counts no lines).

Prints the share of paths whose revisions, added and deleted lines all equal git's, then the
differing paths by class (missing from ours, extra in ours, revisions / added / deleted off),
at most ``--show`` of each.  Exit status 0 when every path agrees.

With ``--renames follow`` the per-path comparison is expected to differ (that is what following
means); ``--follow-top N`` then also compares the revisions of the N busiest existing files
with ``git log --no-merges --follow -- path``, one git process per file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.contracts.base import read_jsonl  # noqa: E402
from freshpoc_tasks.contracts.mining import MINING_RECORDS, FileHistory, RepoSnapshot  # noqa: E402
from freshpoc_tasks.mining._git import git_env, printable  # noqa: E402
from freshpoc_tasks.mining.inventory import decode_path  # noqa: E402

Sums = dict[str, list[int]]  # path -> [revisions, added, deleted]


def git_numstat(repo: Path, commit: str) -> Sums:
    """Per-path sums of ``git log --no-merges --numstat --no-renames -z`` at ``commit``."""
    out = subprocess.run(
        ["git", "-C", str(repo), "log", "--no-merges", "--numstat", "--no-renames", "-z",
         "--format=%x01%H", commit, "--"],
        capture_output=True, check=True, env=git_env(),
    ).stdout  # fmt: skip
    sums: Sums = defaultdict(lambda: [0, 0, 0])
    for tok in out.split(b"\0"):
        tok = tok.lstrip(b"\n")
        if not tok or tok.startswith(b"\x01"):
            continue
        added, deleted, raw = tok.split(b"\t", 2)
        path = decode_path(raw)[0]
        s = sums[path]
        s[0] += 1
        if added != b"-":
            s[1] += int(added)
            s[2] += int(deleted)
    return dict(sums)


def freshpoc_mine(
    repo: Path, ref: str | None, work: Path, renames: str = "off", bots: str = "include"
) -> tuple[str, Sums, float]:
    """Run the CLI as a user would; return (commit, per-path sums, seconds)."""
    cmd = [str(ROOT / ".venv" / "bin" / "freshpoc"), "mine", str(repo.resolve()), "--out", str(work / "out"),
           "--cache", str(work / "mirrors"), "--renames", renames, "--bots", bots]  # fmt: skip
    if ref:
        cmd += ["--ref", ref]
    (work / "out").mkdir()
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"freshpoc mine failed ({proc.returncode}): {proc.stderr.strip()}")
    commit = ""
    sums: Sums = {}
    for rec in read_jsonl(work / "out" / "mine.jsonl.gz", MINING_RECORDS):
        if isinstance(rec, RepoSnapshot):
            commit = rec.commit
            if rec.options.detect_renames != (renames == "follow") or rec.options.bots != bots:
                raise SystemExit(f"the stage file was not mined with --renames {renames} --bots {bots}")
        elif isinstance(rec, FileHistory):
            sums[rec.path] = [rec.revisions, rec.added, rec.deleted]
    return commit, sums, elapsed


def compare(ours: Sums, git: Sums) -> dict[str, list[str]]:
    """Differing paths by class; a path can be in several (revisions and added both off)."""
    classes: dict[str, list[str]] = defaultdict(list)
    for path in sorted(set(ours) | set(git)):
        if path not in ours:
            classes["missing from freshpoc"].append(path)
        elif path not in git:
            classes["extra in freshpoc"].append(path)
        else:
            for k, name in enumerate(("revisions", "added", "deleted")):
                if ours[path][k] != git[path][k]:
                    classes[f"{name} differ"].append(path)
    return classes


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repo", required=True, type=Path, help="local clone with full history")
    parser.add_argument("--ref", help="branch, tag or sha (default: the clone's HEAD)")
    parser.add_argument("--show", type=int, default=10, help="differing paths shown per class")
    parser.add_argument("--renames", choices=("off", "follow"), default="off",
                        help="mine with this --renames (off is the comparison that must agree; follow "
                        "shows how far a rename-following history is from git's per-path counts)")
    parser.add_argument("--bots", choices=("include", "exclude"), default="include")
    parser.add_argument("--follow-top", type=int, default=0, metavar="N",
                        help="with --renames follow: compare the N busiest existing files with "
                        "git log --follow")
    args = parser.parse_args()

    shallow = subprocess.run(["git", "-C", str(args.repo), "rev-parse", "--is-shallow-repository"],
                             capture_output=True, text=True, env=git_env()).stdout.strip()  # fmt: skip
    if shallow == "true":
        raise SystemExit(f"{args.repo} is a shallow clone: the comparison needs the full history")
    with tempfile.TemporaryDirectory(prefix="freshpoc-acc-history-") as tmp:
        commit, ours, t_ours = freshpoc_mine(args.repo, args.ref, Path(tmp), args.renames, args.bots)
    start = time.perf_counter()
    git = git_numstat(args.repo, commit)
    t_git = time.perf_counter() - start
    commits = subprocess.run(["git", "-C", str(args.repo), "rev-list", "--count", "--no-merges", commit],
                             capture_output=True, text=True, env=git_env()).stdout.strip()  # fmt: skip

    classes = compare(ours, git)
    paths = set(ours) | set(git)
    differing = {p for members in classes.values() for p in members}
    equal = len(paths) - len(differing)
    print(f"repository {args.repo} @ {commit[:12]}: {commits} non-merge commits, {len(paths)} paths "
          f"(git {len(git)}, freshpoc {len(ours)})")
    print(f"freshpoc mine --renames {args.renames} --bots {args.bots}  vs  "
          "git log --no-merges --numstat --no-renames")
    share = 100.0 * equal / max(1, len(paths))
    print(f"paths equal (revisions, added, deleted): {equal}/{len(paths)} = {share:.2f} %")
    ours_total = [sum(v[k] for v in ours.values()) for k in range(3)]
    git_total = [sum(v[k] for v in git.values()) for k in range(3)]
    print(f"totals revisions/added/deleted: freshpoc {ours_total}  git {git_total}")
    print(f"time: freshpoc mine (whole stage: clone, inventory, history) {t_ours:.1f}s, git log {t_git:.1f}s")
    for name, members in sorted(classes.items()):
        print(f"  {name}: {len(members)}")
        for path in members[: args.show]:
            print(f"    {printable(path)}  freshpoc {ours.get(path)}  git {git.get(path)}")
    if args.renames == "follow" and args.follow_top:
        follow_check(args.repo, commit, ours, args.follow_top)
    return 0 if not differing else 1


def follow_check(repo: Path, commit: str, ours: Sums, top: int) -> None:
    """Revisions of the busiest existing files vs ``git log --follow`` (git's one-file follow)."""
    listing = subprocess.run(["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", commit],
                             capture_output=True, check=True, env=git_env()).stdout  # fmt: skip
    present = {decode_path(raw)[0] for raw in listing.split(b"\0") if raw}
    busiest = sorted((p for p in ours if p in present), key=lambda p: (-ours[p][0], p))[:top]
    equal = 0
    rows = []
    for path in busiest:
        log = subprocess.run(
            ["git", "-C", str(repo), "log", "--no-merges", "--follow", "--format=%H", commit, "--", path],
            capture_output=True, check=True, env=git_env(),
        ).stdout.split()  # fmt: skip
        equal += len(log) == ours[path][0]
        if len(log) != ours[path][0]:
            rows.append(f"    {printable(path)}  freshpoc {ours[path][0]}  git log --follow {len(log)}")
    print(f"busiest {len(busiest)} existing files, revisions equal to git log --follow: "
          f"{equal}/{len(busiest)}")
    if rows:
        print("\n".join(rows))


if __name__ == "__main__":
    sys.exit(main())
