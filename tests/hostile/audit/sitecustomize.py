"""Loaded by every Python process of a hostile run (the CLI and the workers it forks): records
each attempt to start a program, so the suite can assert that nothing but git ever ran.

Python's audit hooks see ``subprocess.Popen``, ``os.exec*``, ``os.posix_spawn``, ``os.spawn*``
and ``os.system`` before they happen; each is appended as one JSON line to the file named by
``FRESHPOC_AUDIT_LOG``. Put this folder first on ``PYTHONPATH``; without the variable it does
nothing. A program git itself starts (ssh, a hook, a filter) is invisible here: the suite's
trap files (a hook or filter that would create a marker) cover those.
"""

from __future__ import annotations

import json
import os
import sys

_LOG = os.environ.get("FRESHPOC_AUDIT_LOG")
_EVENTS = {"subprocess.Popen", "os.exec", "os.posix_spawn", "os.spawn", "os.system", "pty.spawn"}


def _program(event: str, args: tuple) -> str:
    """The program an event would start, as a string (a shell command for os.system)."""
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if executable:
            return os.fsdecode(executable)
        if isinstance(argv, (str, bytes)):
            return os.fsdecode(argv)  # shell=True or a single string: the whole command
        return os.fsdecode(next(iter(argv), ""))
    if event in ("os.exec", "os.posix_spawn"):
        return os.fsdecode(args[0])
    if event == "os.spawn":
        return os.fsdecode(args[1])
    return os.fsdecode(args[0]) if args else ""


def _hook(event: str, args: tuple) -> None:
    if event not in _EVENTS:
        return
    try:
        line = json.dumps({"pid": os.getpid(), "event": event, "program": _program(event, args)})
    except Exception as exc:  # never break the audited process; record that we could not tell
        line = json.dumps({"pid": os.getpid(), "event": event, "program": f"<unreadable: {exc!r}>"})
    fd = os.open(_LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (line + "\n").encode())
    finally:
        os.close(fd)


if _LOG:
    sys.addaudithook(_hook)
