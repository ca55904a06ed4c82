"""Node loss through the stack's supervisor, for the fault drills (the default stack's store
drills and the cluster profile's node-loss drills): one way to take a server down hard and keep
it down, and one way to bring it back.

Killed alone, a program is respawned by supervisord within milliseconds, and a ``stop`` sent
after that reaches the newborn process, which starts and then shuts down gracefully over up to
its stopwaitsecs (a CI run saw a new Dgraph alpha still STOPPING 8 s later and answering health;
the server was back for part of the "outage"). So the process tree is frozen first (SIGSTOP:
from outside the node is gone at that instant), supervisord is told to stop it (state STOPPING:
no respawn; its SIGTERM stays pending in the frozen processes and never runs), and only then is
every process SIGKILLed, which supervisord records as the stop it was waiting for.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from freshpoc_tasks.stack.manager import Stack

DOWN = ("STOPPED", "FATAL")


def state(stack: Stack, program: str) -> str:
    return stack.sup.states().get(program, "?")


def wait_state(stack: Stack, program: str, done: tuple[str, ...], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while (found := state(stack, program)) not in done:
        assert time.monotonic() < deadline, f"{program} is {found}, not {' or '.join(done)}"
        time.sleep(0.2)
    return found


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def kill_node(stack: Stack, program: str) -> int:
    """SIGKILL the program and every process under it (a machine lost, not a clean stop), and
    keep it down (see the module's docstring for the order); returns the killed pid."""
    pid = int(stack.sup.ctl("pid", program).stdout.strip() or 0)
    assert pid > 0, f"{program} is not running"
    tree = [pid, *descendants(pid)]
    for victim in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGSTOP)
    # supervisorctl's stop waits for the exit, which comes from us: run it beside us.
    stopping = subprocess.Popen(
        [str(stack.cfg.venv_bin("supervisorctl")), "-c", str(stack.sup.conf), "stop", program],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_state(stack, program, ("STOPPING", *DOWN), timeout=30)
    finally:
        for victim in tree:
            with contextlib.suppress(ProcessLookupError):
                os.kill(victim, signal.SIGKILL)
        stopping.wait(timeout=60)
    wait_state(stack, program, DOWN, timeout=30)
    return pid


def restart_node(stack: Stack, service: str, program: str, timeout: float = 240) -> None:
    """Start the program again and wait until it runs and its service answers healthy (for a
    cluster service, every node: see stack.cluster's health checks)."""
    wait_state(stack, program, DOWN, timeout=90)
    stack.sup.ctl("start", program)
    wait_state(stack, program, ("RUNNING",), timeout=timeout)
    svc = stack.service(service)
    deadline = time.monotonic() + timeout
    while not svc.health()[0]:
        assert time.monotonic() < deadline, f"{service} did not come back: {svc.health()[1]}"
        time.sleep(1)


def hold_down(stack: Stack, service: str, program: str, down: float,
              until: Callable[[], bool] | None = None, limit: float = 300) -> int:
    """kill_node, keep the server down at least ``down`` seconds and, with ``until``, until it
    says the outage did what the drill needs (at most ``limit`` s), then restart_node."""
    pid = kill_node(stack, program)
    try:
        time.sleep(down)
        deadline = time.monotonic() + limit
        while until is not None and not until():
            assert time.monotonic() < deadline, f"the {service} outage did not have its effect in {limit} s"
            time.sleep(0.5)
    finally:
        restart_node(stack, service, program)
    return pid
