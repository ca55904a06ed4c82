"""Progress of a long embedding run, as lines a person watching the task log can act on.

A big repository takes minutes to embed; a task that says nothing for that long looks hung.
:class:`Progress` counts chunks and their cost (``weight``, roughly tokens) as bounded batches
finish and words the state as "done/total, rate, ETA". The ETA divides the weight still to do by
the weight rate so far, because batches go from short chunks to long ones and a chunks-per-second
ETA would promise too early an end. :class:`Ticker` logs it on a timer, so a line comes at least
every ``every`` seconds even while one batch or one server call is slow.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType

# The model reads at most 256 tokens, about 1,200 characters of code: beyond that a longer text
# costs no more.
WEIGHT_CAP = 1200
CHARS_PER_TOKEN = WEIGHT_CAP / 256


def weight_of(text: str, tokens: int = 256) -> int:
    """What embedding ``text`` costs, in characters up to what the model reads of it (``tokens``:
    the embedder's cut for this chunk)."""
    return max(1, min(len(text), WEIGHT_CAP, round(tokens * CHARS_PER_TOKEN)))


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    if seconds >= 60:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds}s"


class Progress:
    """Chunks done out of a total, with rate and ETA; thread-safe (the ticker reads it)."""

    def __init__(self, what: str = "embedded", clock: Callable[[], float] = time.monotonic) -> None:
        self.what = what
        self.clock = clock
        self.total = 0
        self.total_weight = 0
        self.done = 0
        self.done_weight = 0
        self.skipped = 0
        self.started = clock()
        self.phase = "starting"
        self._lock = threading.Lock()

    def start(self, total: int, total_weight: int, skipped: int = 0) -> None:
        """The work is known: ``total`` chunks to embed (``skipped`` are stored already)."""
        with self._lock:
            self.total, self.total_weight, self.skipped = total, total_weight, skipped
            self.done = self.done_weight = 0
            self.started = self.clock()
            self.phase = self.what

    def advance(self, chunks: int, weight: int) -> None:
        with self._lock:
            self.done += chunks
            self.done_weight += weight

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase

    def line(self) -> str:
        """``embedded 5120/31022 chunks (16%), 152.3 chunks/s, ETA 2m50s`` (or the phase)."""
        with self._lock:
            elapsed = max(self.clock() - self.started, 1e-9)
            if self.phase != self.what:
                return f"{self.phase} ({_duration(elapsed)} so far)"
            share = self.done / self.total if self.total else 1.0
            rate = self.done / elapsed
            text = (f"{self.what} {self.done}/{self.total} chunks ({share:.0%}), {rate:.1f} chunks/s, "
                    f"elapsed {_duration(elapsed)}")
            if self.done_weight and self.done < self.total:
                left = (self.total_weight - self.done_weight) * elapsed / self.done_weight
                text += f", ETA {_duration(left)}"
            if self.skipped:
                text += f"; {self.skipped} unchanged chunks already stored"
            return text


class Ticker:
    """Call ``emit(progress.line())`` every ``every`` seconds on a daemon thread, and once at exit.

    Used as a context manager around the work; the thread never outlives it.
    """

    def __init__(self, progress: Progress, emit: Callable[[str], None], every: float = 15.0) -> None:
        self.progress = progress
        self.emit = emit
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="embed-progress", daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.emit(self.progress.line())

    def __enter__(self) -> Ticker:
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join()
        self.emit(self.progress.line())
