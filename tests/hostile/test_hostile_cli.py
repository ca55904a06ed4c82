"""Hostile repositories through ``freshpoc mine`` and ``freshpoc analyse``: each input costs only
itself, never the run or the host (issue 15).

The corpus (``corpus.py``, ~200 inputs generated at test time) is mined and analysed by the real
console entry point in subprocesses (``runner.py``), many inputs of a class batched into one
repository. Every input is a named test that checks what must be recorded for it; every run is
a named test that checks what holds for all: no traceback, the expected exit code (one
``error:`` line when refused), within its time budget, peak RSS of the process and its workers
under 1 GB, the canary outside the repository in no byte written or printed, no program started
but git (an audit hook in every Python process of the run), nothing raw on the terminal; and no
trap (a hook, filter, fsmonitor or sandbox escape that would create a marker file) ever fired.

The class summary is printed at the end of the session; ``python tests/hostile/runner.py``
prints the full table of inputs and outcomes.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path

import pytest

from tests.hostile import corpus as c
from tests.hostile import runner
from tests.hostile.analysis_inputs import CANARY as ESCAPE_MARKER

NAMES = c.input_names()
RUNS = ["content", "history", "dbt_scale", "same_a", "same_b", *c.INDIRECTIONS, *c.BROKEN, *c.REFS, *c.URLS]
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d[ T]\d\d:\d\d")


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> tuple[c.Corpus, dict[str, runner.Outcome]]:
    Path(ESCAPE_MARKER).unlink(missing_ok=True)
    corpus, outcomes, wall = runner.run_all(tmp_path_factory.mktemp("hostile"))
    runner.LAST = (corpus, outcomes, wall)
    return corpus, outcomes


def _item(corpus: c.Corpus, name: str) -> c.Input:
    return next(i for i in corpus.inputs if i.name == name)


def _errors(stderr: str) -> list[str]:
    """What a CLI printed besides log lines (which carry a timestamp)."""
    return [line for line in stderr.splitlines() if line.strip() and not LOG_LINE.match(line)]


def _raw_controls(text: str) -> list[str]:
    return [repr(ch) for ch in text if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\n\r"]


@pytest.mark.parametrize("name", NAMES)
def test_hostile_input(hostile, name: str) -> None:
    corpus, outcomes = hostile
    item = _item(corpus, name)
    o = outcomes[item.run]
    if item.expect == c.REFUSED:
        for call in o.calls:
            errors = _errors(call.stderr)
            assert call.code == 2, (call, call.code, call.stderr[-2000:])
            assert len(errors) == 1 and errors[0].startswith("error: "), call.stderr[-2000:]
            assert item.reason.lower() in errors[0].lower(), (item.reason, errors[0])
        assert not o.files and not o.nodes, "a refused location produced output"
        return
    assert o.mine.code == 0 and o.analyse.code == 0, (o.mine.stderr[-2000:], o.analyse.stderr[-2000:])
    for path in item.paths:
        codes = o.codes.get(path, [])
        skipped = o.files.get(path, {}).get("skipped_reason")
        assert "internal_error" not in codes, (path, o.messages.get(path))
        if item.expect == c.BUDGETED:
            assert set(codes) <= c.BUDGET_CODES and not skipped, (path, codes, skipped)
        if item.expect == c.FLAGGED:
            assert codes or skipped, f"{path!r} went through as if nothing were wrong"
            if item.reason:
                assert skipped == item.reason, (path, skipped, codes)
        if item.expect == c.LOGGED and item.run == "history":
            commit = o.commits[path]
            assert commit["committed_at"][:4] in ("9999", "1970"), commit["committed_at"]
            assert f"commit {commit['sha'][:12]}: " in o.mine.stderr, "the clamp is not logged"
    for path in item.good:
        assert o.nodes.get(path, 0) > 0, f"{path!r} next to the hostile input did not come out"
        assert not o.codes.get(path), (path, o.messages.get(path))
    if item.expect == c.LOGGED and item.run == "content":  # a skipped .gitattributes rule
        assert re.search(rf"\.gitattributes:\d+: pattern .* skipped: {re.escape(item.reason)}", o.mine.stderr)
    if item.expect == c.TRAPPED:
        assert not corpus.marker.exists()
    if name == "same_named_folders":
        ids = {outcomes["same_a"].repo_id, outcomes["same_b"].repo_id}
        assert len(ids) == 2 and all(i.startswith("local/proj-") for i in ids), ids
    if name == "dbt_1000_models":
        assert o.edges.get("depends_on", 0) >= 999, o.edges
    if name == "dbt_nested_subqueries":  # one model breaks the link step; the others keep lineage
        assert o.codes.get("analysis/dbt_nested_subqueries/models/deep.sql")


@pytest.mark.parametrize("run", RUNS)
def test_run_contained(hostile, run: str) -> None:
    _corpus, outcomes = hostile
    o = outcomes[run]
    for call in o.calls:
        assert "Traceback" not in call.stderr, call.stderr[-3000:]
        assert call.code == (0 if o.run.ok else 2), (call, call.code, call.stderr[-2000:])
        assert call.seconds < o.run.budget_s, (call, call.seconds)
        assert call.peak_mb < runner.PEAK_RSS_MB, (call, call.peak_mb)
        assert all(os.path.basename(p.split()[0] if p else "") == "git" for p in call.programs), call.programs
        assert not _raw_controls(call.stdout + call.stderr), _raw_controls(call.stdout + call.stderr)[:10]
    assert not o.canary_in, f"the canary outside the repository reached {o.canary_in}"


def test_nothing_from_the_repositories_ran(hostile) -> None:
    """Hooks, filters, fsmonitor, ext:: URLs and sandbox escapes would have created these."""
    corpus, outcomes = hostile
    assert outcomes and not corpus.marker.exists() and not Path(ESCAPE_MARKER).exists()


def test_every_run_is_tested(hostile) -> None:
    corpus, _outcomes = hostile
    assert sorted(RUNS) == sorted(corpus.runs) and len(NAMES) >= 100
