"""Hard limits: a task that allocates, hangs, crashes or floods costs itself, never the run.

First the worker pool alone (``run_contained``), then the engine with analyzers written to
misbehave in each way, so the per-file and cross-file containment is checked end to end.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from pathlib import Path

import pytest

from freshpoc_tasks.analysis.base import Analyzer
from freshpoc_tasks.analysis.engine import ResultCache, RunStats, analyse_repository
from freshpoc_tasks.analysis.limits import Limits, active_limits, run_contained
from freshpoc_tasks.analysis.model import AnalysisConfig, FileResult, LinkResult, SourceFile
from freshpoc_tasks.contracts.graph import Diagnostic, Edge, Node

TIGHT = Limits(time_s=0.5, grace_s=0.2, memory_mb=256, max_output_bytes=1 << 20)


def _task(x: int) -> bytes:
    if x == 3:
        return b"x" * 2_000_000_000
    if x == 5:
        time.sleep(60)
    if x == 7:
        os.kill(os.getpid(), 9)
    if x == 9:
        raise ValueError("boom")
    if x == 11:
        return b"y" * (5 << 20)
    if x == 13:
        return str(active_limits()).encode()
    return str(x * x).encode()


def test_each_task_gets_one_outcome_and_only_the_bad_ones_fail():
    start = time.monotonic()
    outs = {o.index: o for o in run_contained(_task, list(range(40)), TIGHT, workers=2)}
    assert time.monotonic() - start < 10
    assert sorted(outs) == list(range(40))
    assert {i: o.reason for i, o in outs.items() if not o.ok} == {
        3: "memory_budget", 5: "time_budget", 7: "memory_budget", 9: "internal_error", 11: "output_budget"}
    assert "256 MiB" in outs[3].message
    assert "0.5 s" in outs[5].message and "signal 9" in outs[5].message
    assert "signal 9" in outs[7].message
    assert outs[9].message == "ValueError: boom"
    assert outs[13].payload == str(TIGHT).encode(), "a worker knows its limits"
    assert all(outs[i].payload == str(i * i).encode() for i in (0, 1, 2, 4, 6, 8, 10, 12, 39))


def test_per_item_time_budgets():
    outs = {o.index: o for o in run_contained(lambda s: time.sleep(s) or b"ok", [0.0, 0.6, 0.6], TIGHT,
                                              workers=2, time_for=lambda s: 2.0 if s else 0.1)}
    assert all(o.ok for o in outs.values())


def test_inline_mode_runs_without_fork_but_still_reports():
    outs = {o.index: o for o in run_contained(lambda x: b"z" * x, [1, 2 << 20], TIGHT, workers=0)}
    assert outs[0].payload == b"z" and outs[1].reason == "output_budget"
    assert active_limits() is None


# -- through the engine -------------------------------------------------------------------------

class _Hostile(Analyzer):
    """Claims ``*.txt``; the file's text says how to misbehave."""

    name = "hostile"
    version = "1"

    def accepts(self, file, ctx):
        return file.suffix == ".txt"

    def context_fingerprint(self, file, ctx):
        if file.content == b"fingerprint":  # e.g. hashing a project file's expanded YAML
            return "x" * 2_000_000_000
        return super().context_fingerprint(file, ctx)

    def _analyze(self, file, text, ctx, budget):
        r = FileResult(path=file.path, analyzer=self.name)
        if text == "alloc":
            r.facts["x"] = "x" * 2_000_000_000
        elif text == "hang":  # stuck where no signal handler runs, as in a long C call
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            time.sleep(60)
        elif text == "loop":  # pure Python: the analyzer's own alarm stops it
            while True:
                pass
        elif text == "crash":
            os.kill(os.getpid(), 9)
        elif text == "flood":
            for i in range(2_000):
                r.nodes.append(Node(id=ctx.nid("py.module", f"m{i}"), type="py.module",
                                    scope=ctx.repo_id, key=f"m{i}", name=f"m{i}"))
        elif text == "cyclic":
            loop: list = []
            loop.append(loop)
            r.facts["loop"] = loop
        elif text == "binary":
            r.facts["blob"] = b"\xff\xfe"
        mid = ctx.nid("py.module", file.path)
        r.nodes.append(Node(id=mid, type="py.module", scope=ctx.repo_id, key=file.path, name=file.path))
        r.facts["module_id"] = mid
        return r

    def link(self, own, ctx):
        out = LinkResult()
        ids = [r.facts["module_id"] for r in own if "module_id" in r.facts]
        for r in own:
            if r.path.startswith("poison"):
                raise RecursionError("maximum recursion depth exceeded")
            if r.path.startswith("slow"):
                time.sleep(60)
            if r.path.startswith("cyclic"):
                loop: list = []
                loop.append(loop)
                out.nodes.append(Node(id=ctx.nid("py.module", "c"), type="py.module", scope=ctx.repo_id,
                                      key="c", name="c", props={"loop": loop}))
            if r.path.startswith("flood"):
                out.edges.extend(Edge(type="imports", src=ids[0], dst=f"py.module:local/h:x{i}")
                                 for i in range(10_000))
        for a, b in itertools.pairwise(ids):
            out.edges.append(Edge(type="imports", src=a, dst=b))
        out.diagnostics.append(Diagnostic(path="", analyzer=self.name, code="linked", severity="info",
                                          message=str(len(ids))))
        return out


FAST = dict(time_budget_s=1.0, memory_budget_mb=256, max_output_items=1_000, link_time_per_input_s=0.0)


def _run(texts: dict[str, str], **config):
    files = [SourceFile.from_text(p, t) for p, t in texts.items()]
    stats = RunStats()
    delta = analyse_repository(files, "local/h", analyzers=[_Hostile()], stats=stats,
                               config=AnalysisConfig(**{**FAST, **config}))
    codes = {(d.path, d.code) for d in delta.diagnostics}
    modules = {n.key for n in delta.nodes}
    return delta, codes, modules, stats


def test_every_bad_file_is_recorded_with_its_budget_and_the_others_go_on():
    texts = {f"ok{i}.txt": "fine" for i in range(6)}
    texts.update({"a.txt": "alloc", "h.txt": "hang", "c.txt": "crash", "f.txt": "flood", "l.txt": "loop",
                  "y.txt": "cyclic", "b.txt": "binary"})
    start = time.monotonic()
    _delta, codes, modules, stats = _run(texts)
    assert time.monotonic() - start < 20
    assert {("a.txt", "memory_budget"), ("h.txt", "time_budget"), ("c.txt", "memory_budget"),
            ("f.txt", "output_budget"), ("y.txt", "invalid_output"), ("b.txt", "invalid_output"),
            ("l.txt", "timeout")} <= codes
    assert modules == {f"ok{i}.txt" for i in range(6)}
    assert stats.failed == 7 and stats.files == 13
    assert stats.limited["memory_budget"] == 1, "the other one was caught inside the analyzer"
    assert stats.limited["time_budget"] == 1
    # the link step still ran over everything that analysed
    assert ("", "linked") in codes


def test_budget_failures_are_not_cached(tmp_path):
    files = [SourceFile.from_text("ok.txt", "fine"), SourceFile.from_text("h.txt", "hang")]
    cache = ResultCache(tmp_path)
    for expected_cached in (0, 1):
        stats = RunStats()
        analyse_repository(files, "local/h", analyzers=[_Hostile()], cache=cache, stats=stats,
                           config=AnalysisConfig(**FAST))
        assert stats.cached == expected_cached and stats.limited["time_budget"] == 1


def test_a_link_step_that_fails_on_one_input_keeps_everyone_elses_links():
    texts = {f"m{i:02d}.txt": "fine" for i in range(20)}
    texts["poison.txt"] = "fine"
    delta, codes, modules, _stats = _run(texts)
    assert ("poison.txt", "too_deep") in codes
    assert [d.message for d in delta.diagnostics if d.code == "linked"] == ["20"]
    assert len([e for e in delta.edges if e.type == "imports"]) == 19
    assert "poison.txt" in modules, "the culprit's own per-file result stays"


def test_a_hanging_link_input_is_isolated_by_its_budget():
    texts = {f"m{i}.txt": "fine" for i in range(6)}
    texts["slow.txt"] = "fine"
    start = time.monotonic()
    delta, codes, _modules, _stats = _run(texts)
    assert ("slow.txt", "time_budget") in codes
    assert [d.message for d in delta.diagnostics if d.code == "linked"] == ["6"]
    assert time.monotonic() - start < 30


@pytest.mark.parametrize("workers", [0, 1, 2])
def test_results_do_not_depend_on_the_number_of_workers(workers):
    texts = {f"m{i}.txt": "fine" for i in range(9)}
    delta, *_ = _run(texts, workers=workers)
    base, *_ = _run(texts, workers=2)
    assert delta == base


def test_cache_key_hashing_runs_under_the_limits_too(tmp_path):
    files = [SourceFile.from_text("ok.txt", "fine"), SourceFile.from_text("k.txt", "fingerprint")]
    stats = RunStats()
    delta = analyse_repository(files, "local/h", analyzers=[_Hostile()], cache=ResultCache(tmp_path),
                               stats=stats, config=AnalysisConfig(**FAST))
    assert {(d.path, d.code) for d in delta.diagnostics if d.path} == {("k.txt", "memory_budget")}
    assert {n.key for n in delta.nodes} == {"ok.txt"}


def test_the_repository_total_output_is_bounded():
    texts = {f"f{i}.txt": "flood" for i in range(4)}
    _delta, codes, modules, stats = _run(texts, max_output_items=5_000, max_total_output_bytes=600_000)
    over = sorted(p for p, c in codes if c == "output_budget")
    kept = {m for m in modules if m.endswith(".txt")}
    assert len(over) >= 1 and len(kept) == 4 - len(over), (over, kept)
    assert stats.limited["output_budget"] == len(over)


def test_workers_die_with_their_parent(tmp_path):
    """A run killed from outside (an Airflow task timeout) leaves no worker grinding on."""
    import subprocess
    import sys

    pid_file = tmp_path / "pid"
    script = (
        "import os, time, sys\n"
        "from freshpoc_tasks.analysis.limits import Limits, run_contained\n"
        "def task(_):\n"
        f"    open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "    time.sleep(120)\n"
        "    return b''\n"
        "list(run_contained(task, [0], Limits(time_s=120), workers=1))\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).resolve().parents[3])
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.05)
    worker = int(pid_file.read_text())
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{worker}/status").read_text().split("State:")[1].split()[0]
        except (FileNotFoundError, IndexError):
            return
        if state in ("Z", "X"):
            return
        time.sleep(0.05)
    raise AssertionError(f"worker {worker} outlived its parent")


@pytest.mark.parametrize(("culprit", "code"), [("cyclic.txt", "invalid_output"),
                                               ("flood.txt", "output_budget")])
def test_a_link_output_that_cannot_be_kept_is_blamed_on_its_input(culprit, code):
    texts = {f"m{i}.txt": "fine" for i in range(5)}
    texts[culprit] = "fine"
    # 10,000 edges to build and refuse: on a loaded machine more than FAST's 1 s, and a kill at
    # the time budget would be blamed instead of the output budget this test is about
    delta, codes, _modules, _stats = _run(texts, max_output_items=100, time_budget_s=10.0)
    assert (culprit, code) in codes, codes
    assert [d.message for d in delta.diagnostics if d.code == "linked"] == ["5"]
