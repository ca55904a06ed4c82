"""Graph writes of one repository are serialised by an advisory lock; other repositories pass."""

from __future__ import annotations

import threading
import uuid

from freshpoc_tasks.hooks.registry import RepoLock


def _try_in_thread(repo_id: str) -> tuple[threading.Thread, threading.Event]:
    got = threading.Event()

    def run() -> None:
        with RepoLock(repo_id):
            got.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, got


def test_same_repository_waits_other_repository_does_not(stack):
    repo = f"test/lock-{uuid.uuid4().hex[:8]}"
    with RepoLock(repo):
        same, same_got = _try_in_thread(repo)
        other, other_got = _try_in_thread(repo + "-other")
        assert other_got.wait(10)
        assert not same_got.wait(1.5)  # still held by us
    assert same_got.wait(10)  # released on exit
    same.join(10)
    other.join(10)
