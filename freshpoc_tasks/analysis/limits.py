"""Hard limits for analysis work: forked workers under an address-space limit, a wall-time
budget the parent enforces with SIGKILL, and an output cap.

Why processes: a Python-level counter cannot stop a C parser that allocates 4 GB, a regex that
backtracks for minutes or ``'x' * 2000000000`` inside Jinja; the kernel (``RLIMIT_AS``) and a
kill from outside can. Why fork: the workers inherit the repository's files, the analyzers and
whatever the caller built before the call, so a task is just an index into ``items`` (nothing is
pickled on the way in) and results come back as bytes the task produced under the same limits.
Workers are long-lived and fed in batches so the per-task cost is one small message each way.

A worker that dies (out of memory in C code, a segfault, a kill at the deadline) is replaced;
the task it was running is the one recorded, the rest of its batch is re-queued.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import math
import os
import pickle
import resource
import signal
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe, wait
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

TIME_BUDGET = "time_budget"
MEMORY_BUDGET = "memory_budget"
OUTPUT_BUDGET = "output_budget"
TASK_ERROR = "internal_error"
TOO_DEEP = "too_deep"

MIB = 1024 * 1024
SMALL_JOB = 16  # tasks per worker below which another worker is not worth its fork


@dataclass(frozen=True)
class Limits:
    """What one task may use.

    ``memory_mb`` is the address space a worker may add to what it inherits at fork (the parent
    may already map hundreds of MB of libraries, shared and untouched); so a worker's resident
    size stays under the parent's plus this. ``time_s`` is the wall time of one task; the parent
    kills at ``time_s + grace_s`` so an analyzer's own cooperative timeout gets the first word.
    ``max_output_bytes`` caps what one task may send back.
    """

    time_s: float = 20.0
    memory_mb: int = 768
    max_output_bytes: int = 64 * MIB
    grace_s: float = 2.0


@dataclass(frozen=True)
class Outcome(Generic[T]):
    """The result of one task: the task's bytes, or the budget it overran and why."""

    index: int
    item: T
    payload: bytes | None
    reason: str | None = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


_ACTIVE: Limits | None = None


def active_limits() -> Limits | None:
    """The limits of the worker this code runs in, or None in an unconstrained process.

    Lets an analyzer that catches ``MemoryError`` itself say which budget it ran into.
    """
    return _ACTIVE


def _address_space() -> int:
    """Bytes of address space this process maps now (``VmSize``)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def _load_prctl() -> Callable[..., int] | None:
    # Loaded in the parent, once: importing ctypes in every fresh worker would cost ~30 ms each.
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl  # type: ignore[no-any-return]
    except (ImportError, OSError, AttributeError):
        return None


_PRCTL = _load_prctl()
_PR_SET_PDEATHSIG = 1
_UNREAPED: set[int] = set()


def _die_with_parent() -> None:
    """Linux: be killed if the parent dies (an Airflow task killed mid-run), rather than keep
    running a hostile file with nobody to report to."""
    if _PRCTL is not None:
        with contextlib.suppress(Exception):
            _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def _reap() -> None:
    """Collect idle workers killed earlier, without waiting for any."""
    for pid in list(_UNREAPED):
        try:
            done, _status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            done = pid
        if done:
            _UNREAPED.discard(pid)


def _apply_limits(limits: Limits) -> None:
    global _ACTIVE
    _ACTIVE = limits
    _die_with_parent()
    ceiling = _address_space() + limits.memory_mb * MIB
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        ceiling = min(ceiling, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (ceiling, hard))
    except (ValueError, OSError):  # refused by the platform: time and output limits still hold
        log.warning("could not limit the address space of an analysis worker")
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _worker_main(conn: Connection, task: Callable[[T], bytes], items: Sequence[T], limits: Limits) -> None:
    # The parent owns interruption; an inherited handler (Airflow's SIGTERM, pytest's SIGINT)
    # must not run repository-facing cleanup in a copy of the parent.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _apply_limits(limits)
    # The parent may have paused the cyclic collector while it builds results (analysis.model.
    # paused_gc); a worker runs analyzers over hostile input under a memory budget, so it collects.
    gc.enable()
    while True:
        try:
            batch = pickle.loads(conn.recv_bytes())
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for i in batch:
            fatal = False
            try:
                payload = task(items[i])
                if len(payload) > limits.max_output_bytes:
                    msg = (i, OUTPUT_BUDGET, f"output of {len(payload) // MIB} MiB exceeds the "
                                             f"{limits.max_output_bytes // MIB} MiB budget", b"")
                else:
                    msg = (i, None, "", payload)
            except MemoryError:
                payload = None  # release before reporting
                msg = (i, MEMORY_BUDGET, f"ran out of memory within the {limits.memory_mb} MiB budget", b"")
                fatal = True  # a heap that hit the ceiling is not worth trusting for the next task
            except RecursionError:
                msg = (i, TOO_DEEP, "RecursionError: nesting too deep", b"")
            except BaseException as exc:  # every failure is the task's own, reported
                msg = (i, TASK_ERROR, f"{type(exc).__name__}: {exc}"[:500], b"")
            try:
                conn.send_bytes(pickle.dumps(msg, pickle.HIGHEST_PROTOCOL))
            except (OSError, MemoryError):
                return
            if fatal:
                return


class _Worker:
    """One forked worker and the tasks it has been sent but not answered, oldest first."""

    def __init__(self, task: Callable[[T], bytes], items: Sequence[T], limits: Limits,
                 close_in_child: Sequence[Connection]) -> None:
        parent_end, child_end = Pipe(duplex=True)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child, measured by the tests' outcomes
            code = 0
            try:
                parent_end.close()
                for c in close_in_child:
                    with contextlib.suppress(OSError):
                        c.close()
                _worker_main(child_end, task, items, limits)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        child_end.close()
        self.pid = pid
        self.conn = parent_end
        self.inflight: deque[int] = deque()
        self.deadline = math.inf

    def send(self, batch: list[int]) -> None:
        self.inflight.extend(batch)
        self.conn.send_bytes(pickle.dumps(batch, pickle.HIGHEST_PROTOCOL))

    def status(self, kill: bool) -> str:
        """Reap the process (killing it first if asked) and describe how it ended."""
        if kill:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.conn.close()
        try:
            _pid, status = os.waitpid(self.pid, 0)
        except ChildProcessError:
            return "worker ended"
        if os.WIFSIGNALED(status):
            return f"worker killed by signal {os.WTERMSIG(status)}"
        return f"worker exited with status {os.WEXITSTATUS(status)}"

    def close(self) -> None:
        """End an idle worker: it holds nothing worth a clean exit. Killed, and reaped later
        (tearing down a copy of a large parent takes the kernel a while; nobody needs to wait)."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.conn.close()
        _UNREAPED.add(self.pid)


def default_workers() -> int:
    """One per CPU this process may run on (not the host's count, in a container), at most 8:
    each may use its whole memory budget at once."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def run_contained(task: Callable[[T], bytes], items: Sequence[T], limits: Limits, *,
                  workers: int | None = None,
                  time_for: Callable[[T], float] | None = None) -> Iterator[Outcome[T]]:
    """Run ``task(item)`` for every item in forked workers under ``limits``; yield outcomes as
    they arrive (not in order). Every item yields exactly one outcome.

    ``task`` runs in the child and returns bytes (the caller decides the encoding; JSON keeps
    whatever crosses back tree-shaped and bounded). ``time_for`` gives an item its own wall-time
    budget (a link step that scales with its inputs). ``workers=0`` runs inline without limits,
    for debugging and for platforms without ``fork``.
    """
    n_workers = default_workers() if workers is None else workers
    if n_workers <= 0 or not hasattr(os, "fork"):
        yield from _run_inline(task, items, limits)
        return
    # A fork costs a few ms per 100 MB of parent: small jobs get fewer workers.
    n_workers = min(n_workers, -(-len(items) // SMALL_JOB))
    if n_workers == 0:
        return
    budget_of = time_for or (lambda _item: limits.time_s)
    pending: deque[int] = deque(range(len(items)))
    pool: list[_Worker] = []
    # Objects already alive need not be scanned by the children's collector: fewer copied pages.
    gc.freeze()
    try:
        def spawn() -> _Worker:
            w = _Worker(task, items, limits, [p.conn for p in pool])
            pool.append(w)
            return w

        per_batch = max(1, min(32, len(items) // (n_workers * 8)))

        def feed(w: _Worker) -> None:
            if w.inflight or not pending:
                return
            batch = [pending.popleft() for _ in range(min(per_batch, len(pending)))]
            w.send(batch)
            w.deadline = time.monotonic() + budget_of(items[batch[0]]) + limits.grace_s

        def retire(w: _Worker, culprit_reason: str | None, message: str, kill: bool) -> Iterator[Outcome[T]]:
            """Reap ``w``; record the task it was running (unless it ended cleanly), re-queue
            the rest of its batch and start a replacement if work is left."""
            how = w.status(kill)
            if culprit_reason is not None and w.inflight:
                culprit = w.inflight.popleft()
                yield Outcome(culprit, items[culprit], None, culprit_reason, f"{message} ({how})")
            pending.extendleft(reversed(w.inflight))
            w.inflight.clear()
            pool.remove(w)
            if pending and len(pool) < n_workers:
                spawn()

        for _ in range(n_workers):  # each starts on its batch while the next one forks
            feed(spawn())
        while any(w.inflight for w in pool) or pending:
            busy = [w for w in pool if w.inflight]
            if not busy:  # every worker ended with nothing in flight: start one afresh
                feed(spawn())
                continue
            timeout = max(0.0, min(w.deadline for w in busy) - time.monotonic())
            ready = wait([w.conn for w in busy], timeout)
            for w in busy:
                if w.conn not in ready and time.monotonic() < w.deadline:
                    continue
                drained = _drain(w, items, limits, budget_of)
                yield from drained.done
                if drained.exited:
                    yield from retire(w, None, "", kill=False)
                elif drained.dead is not None:
                    yield from retire(w, *drained.dead, kill=False)
                elif w.inflight and time.monotonic() >= w.deadline:
                    budget = budget_of(items[w.inflight[0]])
                    yield from retire(w, TIME_BUDGET, f"exceeded the {budget:g} s time budget; killed",
                                      kill=True)
            for w in list(pool):
                feed(w)
    finally:
        for w in pool:
            if w.inflight:
                w.status(kill=True)
            else:
                w.close()
        gc.unfreeze()
        _reap()


@dataclass
class _Drained(Generic[T]):
    done: list[Outcome[T]]
    dead: tuple[str, str] | None = None  # died mid-task: (reason, message) for that task
    exited: bool = False  # left on purpose after reporting; nothing more to blame


def _drain(w: _Worker, items: Sequence[T], limits: Limits,
           budget_of: Callable[[T], float]) -> _Drained[T]:
    """Read every message ``w`` has ready; note if it died (and why) or broke the protocol."""
    out: _Drained[T] = _Drained([])
    while w.inflight:
        try:
            if not w.conn.poll(0):
                break
            raw = w.conn.recv_bytes(limits.max_output_bytes + MIB)
        except EOFError:
            out.dead = (MEMORY_BUDGET, "worker died (memory exhausted outside Python, or crashed)")
            break
        except OSError as exc:  # message over the cap: the worker misbehaved, kill it
            out.dead = (OUTPUT_BUDGET, f"oversized or broken result: {exc}")
            with contextlib.suppress(ProcessLookupError):
                os.kill(w.pid, signal.SIGKILL)
            break
        i, reason, message, payload = pickle.loads(raw)
        expected = w.inflight.popleft()
        if i != expected:  # cannot happen with an honest worker; never mis-attribute a result
            raise RuntimeError(f"worker answered task {i}, expected {expected}")
        out.done.append(Outcome(i, items[i], payload if reason is None else None, reason, message))
        if reason == MEMORY_BUDGET:  # the worker exits after reporting this
            out.exited = True
            break
        if w.inflight:
            w.deadline = time.monotonic() + budget_of(items[w.inflight[0]]) + limits.grace_s
    return out


def _run_inline(task: Callable[[T], bytes], items: Sequence[T], limits: Limits) -> Iterator[Outcome[T]]:
    for i, item in enumerate(items):
        try:
            payload = task(item)
        except MemoryError:
            yield Outcome(i, item, None, MEMORY_BUDGET, "ran out of memory")
            continue
        except Exception as exc:
            yield Outcome(i, item, None, TASK_ERROR, f"{type(exc).__name__}: {exc}"[:500])
            continue
        if len(payload) > limits.max_output_bytes:
            yield Outcome(i, item, None, OUTPUT_BUDGET,
                          f"output of {len(payload) // MIB} MiB exceeds the "
                          f"{limits.max_output_bytes // MIB} MiB budget")
        else:
            yield Outcome(i, item, payload)
