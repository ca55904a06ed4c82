"""The analyzer plugin contract.

An analyzer claims files by kind (``accepts``), turns one file into a ``FileResult``
(``analyze_file``) and may resolve its own cross-file facts afterwards (``link``). The engine owns
caching, budgets and the ontology check, so a third-party analyzer only writes those three.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from freshpoc_tasks.analysis.limits import MEMORY_BUDGET, active_limits
from freshpoc_tasks.analysis.model import (
    Budget,
    BudgetExceeded,
    FileResult,
    LinkResult,
    RepoContext,
    SourceFile,
    decode_source,
)
from freshpoc_tasks.contracts.graph import Diagnostic

log = logging.getLogger(__name__)


class AnalysisError(Exception):
    """An expected, classified failure on bad input; ``code`` names the class for reports."""

    def __init__(self, code: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


class Analyzer:
    """Base class; subclasses set ``name``/``version`` and implement ``_analyze``."""

    name: str = "analyzer"
    version: str = "0"

    def accepts(self, file: SourceFile, ctx: RepoContext) -> bool:
        raise NotImplementedError

    def context_fingerprint(self, file: SourceFile, ctx: RepoContext) -> str:
        """Anything besides the blob that changes this file's result (part of the cache key)."""
        return ctx.config.fingerprint()

    def _analyze(self, file: SourceFile, text: str, ctx: RepoContext, budget: Budget) -> FileResult:
        raise NotImplementedError

    def link(self, own: Sequence[FileResult], ctx: RepoContext) -> LinkResult:
        """Cross-file work over this analyzer's results; default: nothing."""
        return LinkResult()

    def diag(self, path: str, code: str, message: str, line: int | None = None,
             severity: str = "error") -> Diagnostic:
        return Diagnostic(path=path, analyzer=self.name, code=code, message=message[:500],
                          line=line, severity=severity)  # type: ignore[arg-type]

    def analyze_file(self, file: SourceFile, ctx: RepoContext, budget: Budget | None = None) -> FileResult:
        """Analyse one file; every failure becomes a diagnostic on the result, never an exception.

        Expected failures are classified (``decode_error``, ``syntax_error``, ``timeout``...);
        ``internal_error`` marks a bug in the analyzer, which the property tests hunt for.
        """
        budget = budget or Budget(ctx.config.time_budget_s)
        empty = FileResult(path=file.path, analyzer=self.name)
        if len(file.content) > ctx.config.max_file_bytes:
            empty.diagnostics.append(self.diag(
                file.path, "too_large",
                f"{len(file.content)} bytes exceeds the {ctx.config.max_file_bytes} byte limit"))
            return empty
        try:
            text = decode_source(file.content)
        except UnicodeDecodeError as exc:
            empty.diagnostics.append(self.diag(file.path, "decode_error", f"not UTF-8 text: {exc.reason}"))
            return empty
        try:
            with budget.enforce():
                return self._analyze(file, text, ctx, budget)
        except BudgetExceeded as exc:
            empty.diagnostics.append(self.diag(file.path, "timeout", str(exc)))
        except AnalysisError as exc:
            empty.diagnostics.append(self.diag(file.path, exc.code, str(exc), exc.line))
        except RecursionError:
            empty.diagnostics.append(self.diag(file.path, "too_deep", "nesting too deep to analyse"))
        except MemoryError:
            # CPython's parser reports stack exhaustion on deep nesting as MemoryError too; in a
            # worker under the engine's address-space limit it is most likely that budget.
            limits = active_limits()
            if limits is None:
                empty.diagnostics.append(self.diag(
                    file.path, "resource_limit", "ran out of memory (nesting too deep or input too large)"))
            else:
                empty.diagnostics.append(self.diag(
                    file.path, MEMORY_BUDGET,
                    f"ran out of memory within the {limits.memory_mb} MiB budget (or parser nesting limit)"))
        except Exception as exc:
            log.debug("analyzer %s failed on %s", self.name, file.path, exc_info=True)
            empty.diagnostics.append(
                self.diag(file.path, "internal_error", f"{type(exc).__name__}: {exc}"))
        return empty
