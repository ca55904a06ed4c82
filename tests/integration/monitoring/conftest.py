"""The backup round trip resets the shared stack (``freshpoc stack reset``) and brings it back:
while it runs no server answers, and what a reset cannot give back (Airflow's run history, the
tokens other tests hold, Kafka's events, Prometheus's series) is gone afterwards. So a test
marked ``resets_stack`` runs after every other test of the session, whatever the file order.

Its phase times are measurements the closing note quotes, so they are printed in the terminal
summary of every run (``make test`` included), not only with ``-s``.
"""

from __future__ import annotations

import pytest

TIMES = pytest.StashKey[list[str]]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "resets_stack: resets the shared local stack; runs last")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    last = [item for item in items if item.get_closest_marker("resets_stack")]
    if last:
        items[:] = [item for item in items if item not in last] + last


@pytest.fixture
def timing_lines(request: pytest.FixtureRequest) -> list[str]:
    """Lines a test adds here are printed in the terminal summary."""
    return request.config.stash.setdefault(TIMES, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    lines = config.stash.get(TIMES, [])
    if lines:
        terminalreporter.section("backup round trip (times)")
        for line in lines:
            terminalreporter.write_line(line)
