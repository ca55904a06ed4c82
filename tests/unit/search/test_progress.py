"""Progress lines of a long embedding run: counts, rate, an ETA by cost, and a timer."""

from __future__ import annotations

import threading

from freshpoc_tasks.search.progress import WEIGHT_CAP, Progress, Ticker, weight_of


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_line_says_done_total_rate_and_eta_by_weight():
    clock = Clock()
    p = Progress(clock=clock)
    assert p.line().startswith("starting")
    p.start(total=1000, total_weight=100_000, skipped=20)
    clock.now += 10
    p.advance(500, 20_000)  # the short half is a fifth of the cost
    line = p.line()
    assert line.startswith("embedded 500/1000 chunks (50%), 50.0 chunks/s, elapsed 10s")
    # 80,000 weight left at 2,000 per second: 40 s, not the 10 s a chunk count would promise
    assert "ETA 40s" in line and line.endswith("; 20 unchanged chunks already stored")
    p.advance(500, 80_000)
    assert "ETA" not in p.line() and "1000/1000 chunks (100%)" in p.line()
    p.set_phase("deleting stale chunks")
    assert p.line() == "deleting stale chunks (10s so far)"


def test_weight_is_capped_at_what_the_model_reads():
    assert weight_of("") == 1 and weight_of("abc") == 3 and weight_of("x" * 10_000) == WEIGHT_CAP
    # a test read at 32 tokens costs an eighth of a definition read at 256
    assert weight_of("x" * 10_000, tokens=32) == WEIGHT_CAP // 8 and weight_of("abc", tokens=32) == 3


def test_ticker_logs_on_a_timer_and_once_at_the_end():
    lines: list[str] = []
    logged = threading.Event()

    def emit(line: str) -> None:
        lines.append(line)
        logged.set()

    p = Progress()
    p.start(10, 10)
    with Ticker(p, emit, every=0.01):
        assert logged.wait(5), "no line from the timer"
        p.advance(10, 10)
    assert lines[-1].startswith("embedded 10/10 chunks")
    assert len(lines) >= 2
    assert not any(t.name == "embed-progress" and t.is_alive() for t in threading.enumerate())
