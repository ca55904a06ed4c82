"""Run ``freshpoc mine`` and ``freshpoc analyse`` (the console entry point, in subprocesses) on
every run of the hostile corpus and gather what a test needs to judge each input.

Per CLI call: exit code, wall time, peak resident memory of the process and every descendant it
reaped (``ru_maxrss`` from ``wait4``, so the forked analysis workers count), stdout/stderr and
the programs it tried to start (from the audit hook in ``audit/sitecustomize.py``). Per run:
the mined files and commits, the analysis diagnostics and node counts per path, and whether the
canary token appears in any byte written (outputs, mirror and analysis caches, the terminal).

    python tests/hostile/runner.py [--keep DIR]     # build, run everything, print the table
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.hostile.corpus import Corpus, Run, build  # noqa: E402

AUDIT = Path(__file__).resolve().parent / "audit"
TIME_BUDGET_S = 1.5  # per file; the default is 20 s, what happens at the limit is the same
PEAK_RSS_MB = 1024
LAST: tuple | None = None  # (corpus, outcomes, wall seconds) of the last run_all, for the summary
PARALLEL = 3  # CLI calls at once: the content run's workers take the two cores, the rest wait on git


@dataclass(repr=False)
class Call:
    argv: list[str]
    code: int
    seconds: float
    peak_mb: float
    stdout: str
    stderr: str
    programs: list[str]

    def __repr__(self) -> str:
        return f"Call({self.command} {self.argv[-1]!r}: exit {self.code}, {self.seconds:.1f} s)"

    @property
    def command(self) -> str:
        return next(a for a in self.argv if a in ("mine", "analyse"))


@dataclass(repr=False)
class Outcome:
    run: Run
    mine: Call
    analyse: Call
    files: dict[str, dict] = field(default_factory=dict)  # mined file records by path
    commits: dict[str, dict] = field(default_factory=dict)  # mined commits by the file they add
    repo_id: str = ""
    codes: dict[str, list[str]] = field(default_factory=dict)  # analysis diagnostic codes by path
    messages: dict[str, list[str]] = field(default_factory=dict)
    nodes: dict[str, int] = field(default_factory=dict)  # analysis nodes by path
    edges: dict[str, int] = field(default_factory=dict)  # analysis edges by type
    canary_in: list[str] = field(default_factory=list)  # where the token was found

    def __repr__(self) -> str:  # short: pytest prints it when an assertion fails
        return f"Outcome({self.run.name}: exit {self.mine.code}/{self.analyse.code}, {self.seconds:.1f} s)"

    @property
    def calls(self) -> tuple[Call, Call]:
        return self.mine, self.analyse

    @property
    def seconds(self) -> float:
        return self.mine.seconds + self.analyse.seconds

    @property
    def peak_mb(self) -> float:
        return max(self.mine.peak_mb, self.analyse.peak_mb)


def freshpoc() -> list[str]:
    """The installed console script when there is one (it imports the checkout first, through
    PYTHONPATH), else the same entry point through the interpreter."""
    script = Path(sys.executable).parent / "freshpoc"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "import sys; from freshpoc_tasks.cli.main import main; sys.exit(main())"]


def call(argv: list[str], env: dict[str, str], audit: Path, timeout: float) -> Call:
    """Run one CLI call to completion (killed, with its group, at ``timeout``) and measure it."""
    audit.unlink(missing_ok=True)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env={**env, "FRESHPOC_AUDIT_LOG": str(audit)},
            start_new_session=True,
        )
        killer = threading.Timer(timeout, lambda: os.killpg(proc.pid, signal.SIGKILL))
        killer.start()
        try:
            _pid, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        stderr = err.read().decode("utf-8", "replace")
    programs = []
    if audit.exists():
        programs = [json.loads(line)["program"] for line in audit.read_text().splitlines() if line]
    # ru_maxrss is in KiB on Linux: the largest of the process and every child it reaped
    return Call(argv, proc.returncode, seconds, usage.ru_maxrss / 1024, stdout, stderr, programs)


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _scan(folder: Path, token: bytes) -> list[str]:
    """Every file under ``folder`` (gzip members decompressed) that holds ``token``."""
    found = []
    for dirpath, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_symlink():
                continue
            data = path.read_bytes()
            if data[:2] == b"\x1f\x8b":
                with contextlib.suppress(OSError, EOFError):
                    data = gzip.decompress(data)
            if token in data:
                found.append(str(path.relative_to(folder)))
    # git objects are compressed: ask git for every object of every mirror
    for git_dir in folder.glob("mirrors/*.git"):
        batch = ["git", f"--git-dir={git_dir}", "cat-file", "--batch-all-objects", "--batch"]
        objects = subprocess.run(batch, capture_output=True, check=False).stdout
        if token in objects:
            found.append(f"{git_dir.relative_to(folder)} (git objects)")
    return found


def execute(corpus: Corpus, run: Run, env: dict[str, str]) -> Outcome:
    work = corpus.base / "runs" / run.name
    work.mkdir(parents=True, exist_ok=True)
    cli = freshpoc()
    # The location after "--", options as "--name=value": a value that starts with a dash
    # reaches the product's own checks, as it would from a script, not argparse's.
    mine_argv = ["mine", f"--out={work / 'mine'}", f"--cache={work / 'mirrors'}", *run.mine_args]
    mine = call([*cli, *mine_argv, "--", run.location], env, work / "audit-mine.jsonl", run.budget_s)
    analyse_argv = ["analyse", f"--out={work / 'analyse'}", f"--mirrors={work / 'mirrors'}",
                    f"--cache={work / 'cache'}", f"--time-budget={TIME_BUDGET_S}", *run.analyse_args]
    analyse = call([*cli, *analyse_argv, "--", run.location], env, work / "audit-analyse.jsonl", run.budget_s)
    result = Outcome(run, mine, analyse)
    commits_by_file: dict[str, dict] = {}
    for rec in _records(work / "mine" / "mine.jsonl.gz"):
        if rec.get("kind") == "file":
            result.files[rec["path"]] = rec
        elif rec.get("kind") == "commit":
            for change in rec.get("changes", []):
                if change.get("change_type") == "A":
                    commits_by_file[change["path"]] = rec
        elif rec.get("kind") == "repo_snapshot":
            result.repo_id = rec["repo_id"]
    result.commits = commits_by_file
    codes: dict[str, set[str]] = defaultdict(set)
    messages: dict[str, list[str]] = defaultdict(list)
    nodes: dict[str, int] = defaultdict(int)
    edges: dict[str, int] = defaultdict(int)
    for rec in _records(work / "analyse" / "analysis.jsonl.gz"):
        if rec.get("kind") == "diagnostic":
            codes[rec.get("path") or ""].add(rec["code"])
            messages[rec.get("path") or ""].append(f"{rec['code']}: {rec.get('message', '')}"[:200])
        elif rec.get("kind") == "node" and rec.get("path"):
            nodes[rec["path"]] += 1
        elif rec.get("kind") == "edge":
            edges[rec["type"]] += 1
    result.codes = {p: sorted(c) for p, c in codes.items()}
    result.messages = dict(messages)
    result.nodes = dict(nodes)
    result.edges = dict(edges)
    token = corpus.token.encode()
    result.canary_in = _scan(work, token)
    result.canary_in += [f"{c.command} terminal" for c in result.calls if corpus.token in c.stdout + c.stderr]
    return result


def environment(corpus: Corpus) -> dict[str, str]:
    home = corpus.base / "home"
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FRESHPOC_", "GIT_", "DBT_", "AIRFLOW"))}
    env.update({
        "PYTHONPATH": os.pathsep.join([str(AUDIT), str(ROOT)]),
        "HOME": str(home),
        "FRESHPOC_HOME": str(home / "freshpoc"),
        # an environment variable holding the canary: env_var() in a model must not read it
        "FRESHPOC_HOSTILE_SECRET": corpus.token,
        "DBT_PROFILES_DIR": str(corpus.base / "outside"),
        "PYTHONDONTWRITEBYTECODE": "1",
    })  # fmt: skip
    return env


def run_all(base: Path) -> tuple[Corpus, dict[str, Outcome], float]:
    """Build the corpus under ``base`` and execute every run; (corpus, outcomes, wall seconds)."""
    started = time.monotonic()
    corpus = build(base)
    env = environment(corpus)
    order = sorted(corpus.runs.values(), key=lambda r: -r.budget_s)  # the long ones first
    with ThreadPoolExecutor(PARALLEL) as pool:
        futures = {r.name: pool.submit(execute, corpus, r, env) for r in order}
        outcomes = {name: f.result() for name, f in futures.items()}
    return corpus, outcomes, time.monotonic() - started


# --- the table ---------------------------------------------------------------------------------


def verdict(corpus: Corpus, outcomes: dict[str, Outcome], item) -> tuple[str, str]:
    """(outcome, reason recorded) of one input, for the table."""
    from tests.hostile import corpus as c

    o = outcomes[item.run]
    if item.expect == c.REFUSED:
        line = next((ln for ln in o.mine.stderr.splitlines() if ln.startswith("error:")), "")
        return f"refused (exit {o.mine.code}/{o.analyse.code})", line[7:90]
    reasons = []
    for path in item.paths:
        if path in o.codes:
            reasons.append(",".join(o.codes[path]))
        elif o.files.get(path, {}).get("skipped_reason"):
            reasons.append(f"skipped: {o.files[path]['skipped_reason']}")
        elif path in o.commits and item.reason:
            reasons.append("date clamped (logged)")
    if item.expect == c.LOGGED and item.run == "content":
        hit = next((ln for ln in o.mine.stderr.splitlines() if item.reason and item.reason in ln), "")
        reasons.append(hit.split(" skipped: ")[-1][:60] if hit else "")
    if item.name == "same_named_folders":
        return "distinct repo ids", f"{outcomes['same_a'].repo_id} / {outcomes['same_b'].repo_id}"
    if item.expect == c.GOOD:
        return "analysed, no diagnostic", ""
    if item.expect == c.TRAPPED:
        return "nothing ran (trap absent)", ""
    if item.expect == c.CONTAINED and not reasons:
        return "contained", ""
    if not any(reasons):  # the named test fails a FLAGGED input here; the table says what happened
        return "within budget" if item.expect == c.BUDGETED else "nothing recorded", ""
    return "recorded", "; ".join(r for r in reasons if r)[:80]


def table(corpus: Corpus, outcomes: dict[str, Outcome]) -> str:
    rows = [
        "| class | input | outcome | reason recorded | run | s (mine+analyse) | peak MB |",
        "|---|---|---|---|---|---|---|",
    ]
    for item in sorted(corpus.inputs, key=lambda i: (i.cls, i.name)):
        o = outcomes[item.run]
        outcome, reason = verdict(corpus, outcomes, item)
        rows.append(
            f"| {item.cls} | {item.name} | {outcome} | {reason.replace('|', '/')} | {item.run} | "
            f"{o.seconds:.1f} | {o.peak_mb:.0f} |"
        )
    return "\n".join(rows)


def summary(corpus: Corpus, outcomes: dict[str, Outcome], wall: float) -> str:
    """One line per class: inputs, outcomes, worst time and memory of the runs covering it."""
    by_class: dict[str, list] = defaultdict(list)
    for item in corpus.inputs:
        by_class[item.cls].append(item)
    rows = ["| class | inputs | outcomes | slowest run s | peak RSS MB |", "|---|---|---|---|---|"]
    for cls, items in sorted(by_class.items()):
        kinds: dict[str, int] = defaultdict(int)
        for item in items:
            kinds[verdict(corpus, outcomes, item)[0].split(" (")[0]] += 1
        runs = {i.run: outcomes[i.run] for i in items}.values()
        rows.append(
            f"| {cls} | {len(items)} | "
            + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
            + f" | {max(r.seconds for r in runs):.1f} | {max(r.peak_mb for r in runs):.0f} |"
        )
    rows.append(
        f"\n{len(corpus.inputs)} inputs, {len(outcomes)} runs, {2 * len(outcomes)} CLI calls, "
        f"{wall:.0f} s wall"
    )
    return "\n".join(rows)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="build in this (empty) folder and keep it")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="hostile-") as tmp:
        base = args.keep or Path(tmp)
        base.mkdir(parents=True, exist_ok=True)
        corpus, outcomes, wall = run_all(base)
        print(summary(corpus, outcomes, wall))
        print()
        print(table(corpus, outcomes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
