"""Typed values passed between the analysis engine, the analyzers and the linker.

The core takes ``SourceFile`` values, never a git repository, so it can be fed from the miner,
from a tarball snapshot or from a test's dictionary of strings alike.
"""

from __future__ import annotations

import gc
import hashlib
import signal
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from freshpoc_tasks.contracts.graph import Diagnostic, Edge, Node, node_id


@dataclass(frozen=True)
class SourceFile:
    """One file of the repository at the analysed commit; ``path`` is repo-relative POSIX."""

    path: str
    blob_sha: str
    content: bytes
    language: str | None = None

    @classmethod
    def from_text(cls, path: str, text: str | bytes, language: str | None = None) -> SourceFile:
        """Build a file with a git-compatible blob sha, handy for tests and local adapters."""
        data = text.encode() if isinstance(text, str) else text
        sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        return cls(path=path, blob_sha=sha, content=data, language=language)

    # String operations with pathlib's meaning (``PurePosixPath(path).suffix`` / ``.name`` of a
    # repository path): every analyzer asks these of every file, and building a path object
    # for each question was most of the cost of the engine's accept pass.
    @property
    def suffix(self) -> str:
        name = self.name
        dot = name.rfind(".")
        return name[dot:].lower() if 0 < dot < len(name) - 1 else ""

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rpartition("/")[2]


class Ref(BaseModel):
    """A reference an analyzer saw but cannot resolve alone; the linker resolves it later.

    ``kind`` says which resolver handles it (``py.import``, ``py.symbol``, ``sql.table``);
    ``edge`` is the edge type to emit once ``target`` is found.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: str
    src: str
    target: str
    edge: str
    confidence: float = 1.0
    props: dict[str, Any] = Field(default_factory=dict)


class FileResult(BaseModel):
    """One analyzer's partial result for one file: what goes into the cache.

    ``facts`` is analyzer-private data its own ``link`` step needs (rendered SQL of a dbt model,
    a module's import aliases); it never reaches the graph directly.
    """

    model_config = ConfigDict(extra="forbid")

    path: str
    analyzer: str
    nodes: list[Node] = Field(default_factory=list)
    edges: list[Edge] = Field(default_factory=list)
    refs: list[Ref] = Field(default_factory=list)
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    facts: dict[str, Any] = Field(default_factory=dict)


@dataclass
class LinkResult:
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    refs: list[Ref] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


@dataclass
class AnalysisConfig:
    """Per-repository knobs. ``warehouse`` scopes table ids so repositories share tables."""

    warehouse: str = "default"
    sql_dialect: str | None = None
    time_budget_s: float = 20.0
    max_file_bytes: int = 8 * 1024 * 1024
    # Hard limits the engine enforces from outside the analyzer (see analysis/limits.py).
    # memory_budget_mb: address space a worker may add to what it inherits; output caps bound
    # one file's nodes+edges+refs+diagnostics and its serialised result; a cross-file link step
    # gets time_budget_s and memory_budget_mb plus link_time_per_input_s and
    # link_memory_per_input_kb for each file it links (its work grows with the repository).
    memory_budget_mb: int = 768
    max_output_items: int = 50_000
    max_output_bytes: int = 16 * 1024 * 1024  # a result may outgrow its (<= 8 MiB) file
    max_total_output_bytes: int = 128 * 1024 * 1024  # ~6x that in memory once parsed
    link_time_per_input_s: float = 0.05
    link_memory_per_input_kb: int = 64
    workers: int | None = None  # None: one per CPU; 0: inline, without limits (debugging only)

    def fingerprint(self) -> str:
        return f"{self.warehouse}|{self.sql_dialect}"


@dataclass
class RepoContext:
    """What an analyzer may know about the rest of the repository while analysing one file.

    Only paths and, lazily, the text of a few small files (``dbt_project.yml``, ``Pulumi.yaml``,
    macros) — never anything outside the repository root.
    """

    repo_id: str
    files: Mapping[str, SourceFile]
    config: AnalysisConfig = field(default_factory=AnalysisConfig)
    commit: str | None = None

    def __post_init__(self) -> None:
        self._dirs: set[str] | None = None

    def paths(self) -> Iterable[str]:
        return self.files.keys()

    def text(self, path: str) -> str | None:
        f = self.files.get(path)
        if f is None:
            return None
        return f.content.decode("utf-8", errors="replace")

    def exists(self, path: str) -> bool:
        return path in self.files

    def nid(self, node_type: str, key: str) -> str:
        return node_id(node_type, self.repo_id, key)

    def file_id(self, path: str) -> str:
        return node_id("file", self.repo_id, path)

    def table_id(self, fqn: str) -> str:
        return node_id("sql.table", self.config.warehouse, fqn)

    def column_id(self, fqn: str, column: str) -> str:
        return node_id("sql.column", self.config.warehouse, f"{fqn}.{column}")


@contextmanager
def paused_gc() -> Iterator[None]:
    """CPython's cyclic collector off while a large result is built, back as it was after.

    The engine's parent (and ``freshpoc report`` after it) turns hundreds of thousands of results
    into nodes, edges and records that live until written, and none is part of a reference cycle.
    The collector does not know that: every few hundred allocations it rescans the young objects,
    and every time the heap grows by a quarter it rescans all of it, finding nothing. On the benchmark's
    10,000-file repository that scanning was most of a coordinating process's time (one example:
    validating a 208k-record delta from JSON took 2.5 s with the collector, 0.6 s without).
    Memory is still freed by reference counting.

    The engine's workers turn it back on: hostile input may build cycles there, under a memory
    budget. Here, not in the engine, so a caller (``freshpoc report``) can pause it without
    importing the analyzers and their parsers.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BudgetExceeded(BaseException):
    """Raised inside an analyzer when one file has used up its time.

    A ``BaseException`` (like ``KeyboardInterrupt``) so the broad ``except Exception`` guards
    around third-party parsers cannot swallow it; only the engine's per-file guard handles it.
    """


class Budget:
    """A per-file deadline.

    Analyzers call ``check()`` at loop points (cooperative, works in any thread); in the main
    thread an interval timer also interrupts C-level work such as a huge parse, so one hostile
    file cannot hang the run.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.deadline = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.deadline:
            raise BudgetExceeded(f"per-file time budget of {self.seconds:g}s exceeded")

    @contextmanager
    def enforce(self) -> Iterator[None]:
        use_timer = threading.current_thread() is threading.main_thread() and hasattr(
            signal, "setitimer"
        )
        if not use_timer:
            yield
            return

        armed = [True]

        def _on_alarm(signum: int, frame: Any) -> None:
            # An alarm delivered once the body is over (pending while the timer was being
            # cancelled) must not raise in the cleanup below, nor anywhere after it.
            if armed[0]:
                raise BudgetExceeded(f"per-file time budget of {self.seconds:g}s exceeded")

        previous = signal.signal(signal.SIGALRM, _on_alarm)
        started = time.monotonic()
        # Repeats every 0.2 s past the deadline: a raise swallowed where Python cannot propagate
        # it (a finalizer, a broad ``except BaseException`` in a parser) is retried, not lost.
        # There is one real-time timer per process: another user's (pytest-timeout) is put back.
        outer, outer_interval = signal.setitimer(signal.ITIMER_REAL, max(self.seconds, 0.001), 0.2)
        try:
            yield
        finally:
            try:
                armed[0] = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                signal.signal(signal.SIGALRM, previous)
                if outer > 0:
                    left = max(outer - (time.monotonic() - started), 0.001)
                    signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


def decode_source(data: bytes) -> str:
    """Decode strictly as UTF-8 (with BOM); callers turn the error into a diagnostic."""
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x00" in data:
        raise UnicodeDecodeError("utf-8", data, data.index(b"\x00"), data.index(b"\x00") + 1, "NUL byte")
    return data.decode("utf-8")
