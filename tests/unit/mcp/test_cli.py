"""``freshpoc mcp``: one line when something is missing, never a traceback or protocol noise."""

from __future__ import annotations

import subprocess
import sys

from tests.unit.mcp.graphs import ROOT

# Runs `freshpoc mcp` in a process where the SDK cannot be imported, as after a core-only install.
WITHOUT_SDK = """
import sys
class NoSdk:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"mcp", "mcp_types"}:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoSdk())
from freshpoc_tasks.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _run(*argv: str, code: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-c", code, *argv] if code else [sys.executable, "-m", "freshpoc_tasks.cli.main",
                                                             *argv]
    return subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=120, check=False,
                          stdin=subprocess.DEVNULL)


def test_without_the_sdk_it_says_how_to_install_it(tmp_path):
    res = _run("mcp", "--graph", str(tmp_path), code=WITHOUT_SDK)
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr == "error: the MCP server needs the 'mcp' package: pip install 'freshpoc-tasks[mcp]'\n"


def test_without_a_graph_it_says_how_to_make_one(tmp_path):
    missing = tmp_path / "nothing"
    res = _run("mcp", "--graph", str(missing))
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.strip().splitlines() == [
        f"error: no graph in {missing}: run 'freshpoc report REPO --out {missing}' first"]


def test_the_command_is_listed_with_a_one_line_help():
    res = _run("--help")
    assert res.returncode == 0
    assert "MCP server (stdio) over a local graph, for coding agents" in " ".join(res.stdout.split())
