"""Tools that only tests and benchmarks need (dbt, sqllineage), each in its own cached venv.

They live outside the work tree (``~/.cache/freshpoc/venvs``) and are built on first use, so a
fresh machine works and the project's own dependencies never include them. A ``.complete``
marker is written last, so an interrupted build is redone rather than half-used.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

CACHE = Path(os.environ.get("FRESHPOC_CACHE", Path.home() / ".cache" / "freshpoc")) / "venvs"


def tool_venv(name: str, requirements: list[str], timeout: float = 1800) -> Path:
    """Return the venv directory for ``requirements``, creating it when missing."""
    venv = CACHE / name
    marker = venv / ".complete"
    if marker.exists():
        return venv
    if venv.exists():
        subprocess.run(["rm", "-rf", str(venv)], check=True)
    venv.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=timeout)
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", *requirements], check=True, timeout=timeout)
    marker.write_text("\n".join(requirements) + "\n")
    return venv


DBT_REQUIREMENTS = ["dbt-core<1.11", "dbt-duckdb<1.11"]
DBT_VENV_NAME = "dbt-core-lt1.11-duckdb"
SQLLINEAGE_REQUIREMENTS = ["sqllineage"]
SQLLINEAGE_VENV_NAME = "sqllineage"

if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else "dbt"
    if which == "dbt":
        print(tool_venv(DBT_VENV_NAME, DBT_REQUIREMENTS))
    else:
        print(tool_venv(SQLLINEAGE_VENV_NAME, SQLLINEAGE_REQUIREMENTS))
