"""Reports written to a folder must draw their diagrams offline: ship the Mermaid bundle with them.

The stack installs a pinned Mermaid bundle into its asset cache (``freshpoc_tasks.stack.assets``)
and the query API serves it. A report written by ``freshpoc report`` has no server, so the bundle
is copied next to the HTML (one 3 MB file per output folder, not per page) and the page loads it
by relative URL. Where no bundle is installed the page says so in one visible line, with the
command that fetches it, and shows each diagram as its Mermaid text.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

BUNDLE_NAME = "mermaid.min.js"
BUNDLE_ENV = "FRESHPOC_MERMAID_BUNDLE"  # an explicit mermaid.min.js to ship


def _version() -> str:
    try:
        from freshpoc_tasks.stack.assets import MERMAID_VERSION
    except ImportError:  # pragma: no cover - the module is part of the package
        return "11"
    return MERMAID_VERSION


def missing_note() -> str:
    return (f"Diagrams are shown as Mermaid text: {BUNDLE_NAME} was not found next to this page. "
            f"Install it with 'freshpoc stack up' (or 'npm install mermaid@{_version()}' and copy "
            f"node_modules/mermaid/dist/{BUNDLE_NAME} here), then write the report again or reload.")


def find_bundle() -> Path | None:
    """The installed bundle: ``$FRESHPOC_MERMAID_BUNDLE``, else where the stack's asset installer
    puts it (which follows ``FRESHPOC_HOME`` / ``FRESHPOC_NPM_CACHE``)."""
    explicit = os.environ.get(BUNDLE_ENV)
    candidates = [Path(explicit).expanduser()] if explicit else []
    try:
        from freshpoc_tasks.stack.assets import mermaid_path
    except ImportError:  # pragma: no cover
        mermaid_path = None  # type: ignore[assignment]
    if mermaid_path is not None:
        candidates.append(mermaid_path())
    home = os.environ.get("FRESHPOC_HOME")
    if home:
        pattern = f"npm/mermaid-*/node_modules/mermaid/dist/{BUNDLE_NAME}"
        candidates += sorted(Path(home).expanduser().glob(pattern), reverse=True)
    return next((c for c in candidates if c.is_file() and c.stat().st_size > 0), None)


def ship_bundle(out_dir: str | Path, bundle: Path | None = None) -> tuple[str, str]:
    """Copy the bundle into ``out_dir`` (unless the same file is there); return
    ``(script src, note)`` for :func:`~freshpoc_tasks.reporting.reports.render_repository_report`:
    the note is empty when the bundle was shipped."""
    bundle = bundle if bundle is not None else find_bundle()
    target = Path(out_dir) / BUNDLE_NAME
    if bundle is None or not bundle.is_file():
        return BUNDLE_NAME, missing_note()
    src_stat = bundle.stat()
    if not (target.is_file() and target.stat().st_size == src_stat.st_size
            and target.stat().st_mtime >= src_stat.st_mtime):
        tmp = target.with_name(f".{BUNDLE_NAME}.{os.getpid()}.tmp")
        shutil.copy2(bundle, tmp)
        tmp.replace(target)
    return BUNDLE_NAME, ""
