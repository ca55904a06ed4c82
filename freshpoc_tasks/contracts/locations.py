"""Where staged artifacts live in the object store (ARCHITECTURE: MinIO bucket and prefixes).

Pure names, shared by the stack (which creates the bucket), the staging hook, the operators and
their extra links, so the layout is written down once.
"""

from __future__ import annotations

import os
from pathlib import Path

BUCKET = "freshpoc"


# --- local caches ------------------------------------------------------------------------------
# One answer to "where does FreshPoC cache things on this machine", read at call time so a
# process configured after import (an Airflow task, a test's environment) still finds its cache.

def cache_root() -> Path:
    """``$FRESHPOC_HOME``, else ``~/.cache/freshpoc``: servers, venvs, mirrors, analysis results."""
    return Path(os.environ.get("FRESHPOC_HOME") or Path.home() / ".cache" / "freshpoc").expanduser()


def mirror_cache() -> Path:
    """Bare mirrors of mined repositories (``$FRESHPOC_MIRROR_CACHE`` overrides)."""
    return Path(os.environ.get("FRESHPOC_MIRROR_CACHE") or cache_root() / "mirrors").expanduser()


def analysis_cache() -> Path:
    """Content-addressed per-file analysis results (``$FRESHPOC_ANALYSIS_CACHE`` overrides)."""
    return Path(os.environ.get("FRESHPOC_ANALYSIS_CACHE") or cache_root() / "analysis").expanduser()


def staging_key(repo_id: str, commit: str, stage: str) -> str:
    return f"staging/{repo_id}/{commit}/{stage}.jsonl.gz"


def snapshot_key(repo_id: str, commit: str, ext: str = "bundle") -> str:
    """``tar.gz``: the tree at the commit; ``bundle``: a git bundle with its history."""
    return f"snapshots/{repo_id}/{commit}.{ext}"


def report_key(repo_id: str, commit: str, ext: str, name: str = "report") -> str:
    return f"reports/{repo_id}/{commit}/{name}.{ext}"


def parse_uri(uri: str, default_bucket: str = BUCKET) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key); a bare key is in ``default_bucket``."""
    if uri.startswith("s3://"):
        bucket, _, key = uri[5:].partition("/")
        if not bucket or not key:
            raise ValueError(f"not an s3://bucket/key URI: {uri!r}")
        return bucket, key
    return default_bucket, uri.lstrip("/")
