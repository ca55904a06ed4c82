"""The per-file alarm (``Budget.enforce``) leaves nothing behind and is not lost when swallowed."""

from __future__ import annotations

import signal
import time

import pytest

from freshpoc_tasks.analysis.model import Budget, BudgetExceeded


def test_alarm_is_cancelled_and_the_outer_timer_restored() -> None:
    fired: list[int] = []
    previous = signal.signal(signal.SIGALRM, lambda *_: fired.append(1))
    try:
        signal.setitimer(signal.ITIMER_REAL, 30.0)  # someone else's timer (pytest-timeout's)
        with Budget(5.0).enforce():
            pass
        left, _interval = signal.getitimer(signal.ITIMER_REAL)
        assert 25.0 < left <= 30.0  # put back, minus the time spent
        assert signal.getsignal(signal.SIGALRM) is not None and not fired
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    before = signal.getitimer(signal.ITIMER_REAL)  # pytest-timeout's, when it runs
    with Budget(0.05).enforce():
        pass
    time.sleep(0.3)  # nothing of ours armed any more: no BudgetExceeded out of nowhere
    after = signal.getitimer(signal.ITIMER_REAL)
    assert after[1] == before[1] and (after[0] == 0) == (before[0] == 0)


def test_a_swallowed_alarm_fires_again() -> None:
    swallowed = 0
    with pytest.raises(BudgetExceeded), Budget(0.05).enforce():
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                while True:
                    pass
            except BudgetExceeded:  # a parser's broad except, or a finalizer
                swallowed += 1
                if swallowed == 1:
                    continue
                raise
    assert swallowed == 2
    assert signal.getitimer(signal.ITIMER_REAL)[1] in (0.0, 0)  # our repeating timer is gone
