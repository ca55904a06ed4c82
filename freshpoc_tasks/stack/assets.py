"""Assets the served pages and the tasks read at run time, installed once into the cache.

Reports render Mermaid in the browser. Loading mermaid.js from a CDN would leak every report view
to a third party and break offline, and committing a 3 MB minified bundle would bloat the repo,
so ``freshpoc stack up`` installs a pinned version from the npm registry into
``$FRESHPOC_HOME/npm/`` and the query API serves it from there. Both sides find the bundle through
:func:`mermaid_path` of the same cache root (the stack hands ``FRESHPOC_HOME`` to Airflow), so what
``stack up`` installs is what the API serves: an earlier version installed into the root but read
from ``npm/`` below it, and the bundle appeared only once a browser test installed it again.

:func:`install_assets` is the stack-up step: every asset, nothing left for a test to fetch
lazily. :func:`ensure_chromium` is not a served asset but the browser the rendering tests drive,
installed through the stack's own Debian-package path.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from freshpoc_tasks.contracts import locations

if TYPE_CHECKING:
    from freshpoc_tasks.stack.config import StackConfig

MERMAID_VERSION = "11.17.2"
# The self-contained browser bundle (defines ``window.mermaid``); the ESM build would need a
# module-aware server and pulls in dozens of chunk files.
MERMAID_BUNDLE = Path("node_modules/mermaid/dist/mermaid.min.js")


class AssetInstallError(RuntimeError):
    """npm is missing or the install failed; the message carries npm's own output."""


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """The FreshPoC cache root: ``cache_dir``, else ``$FRESHPOC_HOME``, else ``~/.cache/freshpoc``
    (read at call time, so a process configured after import still finds its cache)."""
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    return locations.cache_root()


def _mermaid_prefix(cache_dir: str | Path | None) -> Path:
    return cache_root(cache_dir) / "npm" / f"mermaid-{MERMAID_VERSION}"


def mermaid_path(cache_dir: str | Path | None = None) -> Path:
    """Where the bundle lives under a cache root once installed (it may not exist yet)."""
    return _mermaid_prefix(cache_dir) / MERMAID_BUNDLE


def _installed_version(prefix: Path) -> str | None:
    try:
        meta = json.loads((prefix / "node_modules/mermaid/package.json").read_text())
    except (OSError, ValueError):
        return None
    return meta.get("version")


def ensure_mermaid(cache_dir: str | Path | None = None, *, npm: str = "npm", timeout: float = 600.0) -> Path:
    """Install mermaid ``MERMAID_VERSION`` under the cache root unless present; return the bundle path.

    Idempotent: a second call with the bundle in place runs no process. Each version gets its own
    prefix folder so bumping the pin never mixes files of two versions; the install goes to a
    temporary folder first and is renamed into place, so an interrupted install is never mistaken
    for a finished one.
    """
    prefix = _mermaid_prefix(cache_dir)
    bundle = prefix / MERMAID_BUNDLE
    npm_dir = prefix.parent
    if bundle.is_file() and _installed_version(prefix) == MERMAID_VERSION:
        return bundle
    if shutil.which(npm) is None:
        raise AssetInstallError(f"{npm!r} not found: install Node.js/npm to fetch mermaid {MERMAID_VERSION}")
    npm_dir.mkdir(parents=True, exist_ok=True)
    staging = npm_dir / f".mermaid-{MERMAID_VERSION}.{os.getpid()}.tmp"
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


def install_assets(cfg: StackConfig) -> dict[str, Path]:
    """The stack-up asset step: every file the tasks and the served pages read at run time,
    installed into ``cfg.cache_dir`` (idempotent; a warm cache starts no process). Returns what
    is where, by name.

    The embedding model is the configured one (``FRESHPOC_EMBEDDING_MODEL``, default the int8
    all-MiniLM-L6-v2): each model has its own folder, so a fresh machine installs only that
    one, and a cache holding another model (the float export used before) is neither needed nor
    touched."""
    from freshpoc_tasks.search.model import ensure_model, model_spec

    spec = model_spec()
    return {f"embedding model {spec.label}": ensure_model(cfg.cache_dir, spec.name),
            "mermaid": ensure_mermaid(cfg.cache_dir)}


def ensure_chromium(cfg: StackConfig) -> str:
    """Path of a headless-capable Chromium, installed from Debian's packages when missing (the
    browser tests render the served reports with it; ``stack up`` does not need it)."""
    from freshpoc_tasks.stack.build import apt_install

    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    apt_install(cfg, ["chromium"], "headless Chromium for the browser tests")
    found = shutil.which("chromium")
    if found is None:
        raise AssetInstallError("chromium was installed but is not on PATH")
    return found
