"""Schemathesis over the API's OpenAPI document, with an admin token: no server errors.

The API runs in this process under uvicorn (over the private graph of the examples, with the
running Airflow's auth), so the fuzzer reaches real Dgraph queries with data behind them.
schemathesis is a test-only tool: it lives in its own cached venv, built on first use.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "unit" / "analysis"))

from toolvenv import tool_venv  # noqa: E402

SCHEMATHESIS = ["schemathesis==4.32.5"]


def test_schemathesis_finds_no_server_error(graph, tokens, tmp_path):
    import uvicorn
    from airflow.api_fastapi.app import init_auth_manager

    from freshpoc_tasks.api.app import create_app
    from freshpoc_tasks.hooks.dgraph import DgraphHook
    from tests.integration.api.conftest import TEST_CONN

    st = tool_venv("schemathesis-4.32.5", SCHEMATHESIS) / "bin" / "st"
    init_auth_manager()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(runner_factory=lambda: DgraphHook(TEST_CONN)),
                                           host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        proc = subprocess.run(
            [str(st), "run", f"http://127.0.0.1:{port}/openapi.json",
             "-H", f"Authorization: Bearer {tokens['admin']}", "--checks", "not_a_server_error",
             "--max-examples", "25", "--workers", "1", "--request-timeout", "30", "--seed", "8",
             "--report", "junit", "--report-dir", str(tmp_path)],
            capture_output=True, text=True, timeout=900, check=False)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-2000:]
