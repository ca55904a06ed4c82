"""Benchmark: our history pass vs raw ``git log --numstat -z`` vs PyDriller.

    .venv/bin/python benchmarks/mining.py [--commits 20000] [--pydriller-commits 1000] [--runs 3]

Run it with the project's interpreter (``.venv/bin/python``, after ``make venv``): it imports
``freshpoc_tasks`` and its dependencies (pydantic), which a bare ``python3`` outside the venv
does not have.

Generates (once, cached under ~/.cache/freshpoc/bench/) a linear repository with
``git fast-import``: files in nested folders, several authors, edits, additions, deletions
and renames.  PyDriller is installed into its own throwaway virtualenv there, never into the
project.  PyDriller is slow, so it runs on the oldest ``--pydriller-commits`` commits and the
comparison is per commit; the totals it computes are checked against ours on the same range.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from freshpoc_tasks.contracts.mining import MiningOptions  # noqa: E402
from freshpoc_tasks.mining._git import git_env  # noqa: E402
from freshpoc_tasks.mining.access import Repository  # noqa: E402
from freshpoc_tasks.mining.history import mine_history  # noqa: E402

BENCH = Path(os.environ.get("FRESHPOC_BENCH_DIR", "~/.cache/freshpoc/bench")).expanduser()
WORDS = ("alpha", "beta", "gamma", "delta", "return", "value", "self", "data", "index", "if", "for")
AUTHORS = [f"Dev {i} <dev{i}@example.com>" for i in range(12)] + ["dependabot[bot] <bot@example.com>"]


def _line(rng: random.Random) -> bytes:
    return (" " * rng.choice((0, 4, 8)) + " ".join(rng.choices(WORDS, k=rng.randint(2, 7))) + "\n").encode()


def generate(path: Path, commits: int, seed: int = 7) -> None:
    """Write a ``commits``-long history with fast-import (deterministic for a seed)."""
    rng = random.Random(seed)
    tmp = path.with_suffix(".tmp")
    subprocess.run(["rm", "-rf", str(tmp)], check=True)
    subprocess.run(
        ["git", "init", "-q", "--bare", "--initial-branch=main", str(tmp)], check=True, env=git_env()
    )
    proc = subprocess.Popen(
        ["git", f"--git-dir={tmp}", "fast-import", "--quiet", "--done"], stdin=subprocess.PIPE, env=git_env()
    )
    assert proc.stdin is not None
    files: dict[str, list[bytes]] = {}
    dirs = [f"pkg{i}/mod{j}" for i in range(8) for j in range(6)] + ["", "docs", "tools"]
    serial = 0
    when = 1_600_000_000

    def new_path() -> str:
        nonlocal serial
        serial += 1
        folder = rng.choice(dirs)
        return f"{folder}/f{serial}.py" if folder else f"f{serial}.py"

    for n in range(commits):
        ops: list[bytes] = []
        when += rng.randint(60, 7200)
        if n < 50 or len(files) < 200 or rng.random() < 0.08:
            p = new_path()
            files[p] = [_line(rng) for _ in range(rng.randint(10, 80))]
            ops.append(
                b"M 100644 inline %s\ndata %d\n%s\n"
                % (p.encode(), sum(map(len, files[p])), b"".join(files[p]))
            )
        else:
            roll = rng.random()
            if roll < 0.03 and len(files) > 200:
                p = rng.choice(sorted(files))
                del files[p]
                ops.append(b"D %s\n" % p.encode())
            elif roll < 0.06:
                old = rng.choice(sorted(files))
                new = new_path()
                files[new] = files.pop(old)
                ops.append(b"R %s %s\n" % (old.encode(), new.encode()))
            touched = rng.sample(sorted(files), k=min(len(files), rng.choice((1, 1, 2, 2, 3, 4, 6))))
            for p in touched:
                lines = files[p]
                for _ in range(rng.randint(1, 6)):
                    action = rng.random()
                    at = rng.randrange(len(lines) + 1)
                    if action < 0.5 or len(lines) < 5:
                        lines.insert(at, _line(rng))
                    elif action < 0.8:
                        del lines[min(at, len(lines) - 1)]
                    else:
                        lines[min(at, len(lines) - 1)] = _line(rng)
                body = b"".join(lines)
                ops.append(b"M 100644 inline %s\ndata %d\n%s\n" % (p.encode(), len(body), body))
        author = AUTHORS[min(int(rng.expovariate(0.35)), len(AUTHORS) - 1)]
        msg = f"change {n}".encode()
        head = f"commit refs/heads/main\nauthor {author} {when} +0000\ncommitter {author} {when} +0000\n"
        proc.stdin.write(head.encode() + b"data %d\n%s\n" % (len(msg), msg) + b"".join(ops) + b"\n")
    proc.stdin.write(b"done\n")
    proc.stdin.close()
    if proc.wait() != 0:
        raise SystemExit("fast-import failed")
    subprocess.run(["git", f"--git-dir={tmp}", "gc", "--quiet", "--aggressive"], check=True, env=git_env())
    tmp.rename(path)


def best_of(runs: int, fn) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def pydriller_python() -> Path:
    venv = BENCH / "pydriller-venv"
    py = venv / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", "pydriller"], check=True)
    return py


PYDRILLER_SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from collections import defaultdict
    from pydriller import Repository
    path, limit = sys.argv[1], int(sys.argv[2])
    churn = defaultdict(lambda: [0, 0, 0])
    start = time.perf_counter()
    n = 0
    for commit in Repository(path, only_no_merge=True).traverse_commits():
        for f in commit.modified_files:
            c = churn[f.new_path or f.old_path]
            c[0] += 1; c[1] += f.added_lines; c[2] += f.deleted_lines
        n += 1
        if n >= limit:
            break
    elapsed = time.perf_counter() - start
    totals = [sum(v[i] for v in churn.values()) for i in range(3)]
    print(json.dumps({"commits": n, "seconds": elapsed, "changes": totals[0], "added": totals[1],
                      "deleted": totals[2], "last": commit.hash}))
    """
)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--commits", type=int, default=20_000)
    parser.add_argument("--pydriller-commits", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    BENCH.mkdir(parents=True, exist_ok=True)
    repo_path = BENCH / f"synthetic-{args.commits}.git"
    if not repo_path.exists():
        print(f"generating {args.commits} commits into {repo_path} ...", flush=True)
        start = time.perf_counter()
        generate(repo_path, args.commits)
        print(f"  generated in {time.perf_counter() - start:.1f}s", flush=True)
    repo = Repository(location=str(repo_path), repo_id=f"local/{repo_path.name}", git_dir=repo_path)
    head = repo.resolve("main")
    count = int(repo.git("rev-list", "--count", head))
    files = len(repo.git("ls-tree", "-r", "--name-only", head).splitlines())
    print(
        f"repository: {repo_path} ({count} commits, {files} files at head {head[:12]}, git {_git_version()})"
    )

    def raw() -> None:
        subprocess.run(
            ["git", f"--git-dir={repo_path}", "log", "--numstat", "-z", head],
            stdout=subprocess.DEVNULL, check=True, env=git_env(),
        )  # fmt: skip

    options = MiningOptions(bots="include")
    result = {}

    def ours() -> None:
        result["agg"] = mine_history(repo, head, options)

    raw()  # warm the page cache
    t_raw = best_of(args.runs, raw)
    t_ours = best_of(args.runs, ours)
    agg = result["agg"]
    print(f"raw git log --numstat -z         : {t_raw:8.2f}s  ({count / t_raw:8.0f} commits/s)")
    print(
        f"freshpoc history pass            : {t_ours:8.2f}s  ({count / t_ours:8.0f} commits/s)"
        f"  {len(agg.files)} files, {len(agg.pairs)} co-change pairs"
    )
    ratio_raw = t_ours / t_raw
    print(f"ratio ours / raw git log         : {ratio_raw:8.2f}x   (goal <= 1.25x)")

    py = pydriller_python()
    script = BENCH / "pydriller_churn.py"
    script.write_text(PYDRILLER_SCRIPT)
    out = subprocess.run(
        [str(py), str(script), str(repo_path), str(args.pydriller_commits)],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    pyd = json.loads(out.stdout.strip().splitlines()[-1])
    sub = mine_history(repo, pyd["last"], options)
    same = (
        sum(s.added for s in sub.files.values()) == pyd["added"]
        and sum(s.deleted for s in sub.files.values()) == pyd["deleted"]
        and sum(s.revisions for s in sub.files.values()) == pyd["changes"]
    )
    per_ours = t_ours / count
    per_pyd = pyd["seconds"] / pyd["commits"]
    print(
        f"pydriller (oldest {pyd['commits']} commits)   : {pyd['seconds']:8.2f}s  "
        f"({pyd['commits'] / pyd['seconds']:8.0f} commits/s)  same churn totals as ours: {same}"
    )
    print(f"ratio pydriller / ours, per commit: {per_pyd / per_ours:8.1f}x   (goal >= 10x)")
    return 0 if same else 1


def _git_version() -> str:
    return subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    sys.exit(main())
