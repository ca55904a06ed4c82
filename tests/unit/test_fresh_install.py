"""A new user's first minute: a fresh virtualenv, ``pip install`` of a clean checkout (the
package's own dependencies only, not requirements.txt), then ``freshpoc report`` on a repository.

The checkout is ``git archive HEAD`` — what a clone holds, without this work tree's build
leftovers — installed non-editable, so anything the package reads from outside itself (the
ontology) must really be installed with it. pip's cache is reused, so only the first run on a
machine downloads anything. Report and graph files must be written, and neither Airflow nor any
server client may be imported (none is even installed).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freshpoc_tasks.testing import RepoBuilder

ROOT = Path(__file__).resolve().parents[2]
SERVER_MODULES = ("airflow", "confluent_kafka", "kafka", "pydgraph", "grpc", "minio", "boto3", "botocore",
                  "weaviate", "psycopg", "psycopg2", "fastapi", "httpx")

pytestmark = pytest.mark.slow


def _run(cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, check=False, **kwargs)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def test_pip_install_then_report_with_no_server(tmp_path):
    src = tmp_path / "checkout"
    src.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "HEAD"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(src)], input=archive.stdout, check=True)
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)])
    pip_cache = os.environ.get("PIP_CACHE_DIR", str(Path.home() / ".cache" / "pip"))
    _run([str(venv / "bin/pip"), "install", "-q", "--disable-pip-version-check", "--cache-dir", pip_cache,
          str(src)])

    repo = RepoBuilder(tmp_path / "demo.git")
    repo.commit("first", author="Ann <ann@example.com>", date="2024-01-01T10:00:00+00:00", write={
        "pkg/__init__.py": "",
        "pkg/core.py": "import json\n\n\ndef load(path):\n    return json.loads(open(path).read())\n",
        "pkg/cli.py": "from pkg.core import load\n\n\ndef main():\n    return load('x.json')\n",
        "sql/report.sql": "create table mart.daily as select id, amount from raw.orders;\n",
    })
    home = tmp_path / "home"  # empty caches: nothing from this machine's earlier runs
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(home), "FRESHPOC_HOME": str(home / "freshpoc")}
    out = tmp_path / "out"
    code = ("import importlib.util, sys; from freshpoc_tasks.cli.main import main; "
            "rc = main(sys.argv[1:]); "
            f"bad = sorted({{m.split('.')[0] for m in sys.modules}} & set({SERVER_MODULES!r})); "
            "own = sorted(m for m in sys.modules if m.startswith(('freshpoc_tasks.hooks', "
            "'freshpoc_tasks.operators', 'freshpoc_tasks.api', 'freshpoc_tasks.stack.manager'))); "
            "print('RESULT', rc, bad, own, importlib.util.find_spec('airflow') is None)")
    proc = _run([str(venv / "bin/python"), "-c", code, "report", str(repo.path), "--out", str(out),
                 "--format", "md,html,json"], env=env, cwd=tmp_path)
    assert proc.stdout.strip().splitlines()[-1] == "RESULT 0 [] [] True", proc.stderr
    for name in ("report.md", "report.html", "report.json", "graph/nodes.jsonl", "graph/edges.jsonl",
                 "graph/graph.graphml"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "report.md").read_text().startswith("# Repository report: local/demo")
    # The console script works too, and the local questions answer from what was written.
    deps = _run([str(venv / "bin/freshpoc"), "deps", "pkg.cli", "--graph", str(out), "--json"], env=env)
    answer = json.loads(deps.stdout)
    assert [(n["type"], n["xid"].rsplit(":", 1)[-1]) for n in answer["nodes"]] == [("py.module", "pkg.core")]
