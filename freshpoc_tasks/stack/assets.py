"""Front-end assets the reports need, installed once from the npm registry into a cache.

Reports render Mermaid in the browser. Loading mermaid.js from a CDN would leak every report view
to a third party and break offline, and committing a 3 MB minified bundle would bloat the repo,
so ``freshpoc stack up`` installs a pinned version into ``~/.cache/freshpoc/npm/`` and the query
API serves it from there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

MERMAID_VERSION = "11.17.2"
DEFAULT_CACHE_DIR = Path(os.environ.get("FRESHPOC_NPM_CACHE", "~/.cache/freshpoc/npm")).expanduser()
# The self-contained browser bundle (defines ``window.mermaid``); the ESM build would need a
# module-aware server and pulls in dozens of chunk files.
MERMAID_BUNDLE = Path("node_modules/mermaid/dist/mermaid.min.js")


class AssetInstallError(RuntimeError):
    """npm is missing or the install failed; the message carries npm's own output."""


def mermaid_path(cache_dir: Path | None = None) -> Path:
    """Where the bundle lives once installed (it may not exist yet)."""
    return (cache_dir or DEFAULT_CACHE_DIR) / f"mermaid-{MERMAID_VERSION}" / MERMAID_BUNDLE


def _installed_version(prefix: Path) -> str | None:
    try:
        meta = json.loads((prefix / "node_modules/mermaid/package.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("version")


def ensure_mermaid(cache_dir: Path | None = None, *, npm: str = "npm", timeout: float = 600.0) -> Path:
    """Install mermaid ``MERMAID_VERSION`` under ``cache_dir`` unless present; return the bundle path.

    Idempotent: a second call with the bundle in place runs no process. Each version gets its own
    prefix folder so bumping the pin never mixes files of two versions; the install goes to a
    temporary folder first and is renamed into place, so an interrupted install is never mistaken
    for a finished one.
    """
    cache_dir = Path(cache_dir or DEFAULT_CACHE_DIR).expanduser()
    prefix = cache_dir / f"mermaid-{MERMAID_VERSION}"
    bundle = prefix / MERMAID_BUNDLE
    if bundle.is_file() and _installed_version(prefix) == MERMAID_VERSION:
        return bundle
    if shutil.which(npm) is None:
        raise AssetInstallError(f"{npm!r} not found: install Node.js/npm to fetch mermaid {MERMAID_VERSION}")
    cache_dir.mkdir(parents=True, exist_ok=True)
    staging = cache_dir / f".mermaid-{MERMAID_VERSION}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    # A package.json of our own keeps npm from walking up into some parent project.
    (staging / "package.json").write_text(json.dumps({"name": "freshpoc-assets", "private": True}))
    cmd = [npm, "install", "--prefix", str(staging), "--no-audit", "--no-fund", "--ignore-scripts",
           "--save-exact", "--omit=dev", f"mermaid@{MERMAID_VERSION}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        if proc.returncode != 0 or not (staging / MERMAID_BUNDLE).is_file():
            raise AssetInstallError(
                f"npm install mermaid@{MERMAID_VERSION} failed (exit {proc.returncode}):\n"
                f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        shutil.rmtree(prefix, ignore_errors=True)
        staging.rename(prefix)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bundle
