"""Prints the hostile suite's class summary (inputs, outcomes, slowest run, peak RSS) at the end
of a session that ran it; ``FRESHPOC_HOSTILE_TABLE=FILE`` also writes the full table there."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    from tests.hostile import runner

    if runner.LAST is None:
        return
    corpus, outcomes, wall = runner.LAST
    terminalreporter.write_sep("-", "hostile inputs through freshpoc mine + analyse")
    terminalreporter.write_line(runner.summary(corpus, outcomes, wall))
    target = os.environ.get("FRESHPOC_HOSTILE_TABLE")
    if target:
        Path(target).write_text(
            runner.summary(corpus, outcomes, wall) + "\n\n" + runner.table(corpus, outcomes) + "\n"
        )
