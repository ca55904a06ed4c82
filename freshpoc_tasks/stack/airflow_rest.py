"""A few calls of Airflow's REST API v2 that the demo, the CLI and the tests share.

Triggering goes through the public API on purpose: it is what users and CI systems do, so the
demo exercises the same path (auth, unpause, trigger, poll) as they will.
"""

from __future__ import annotations

import os
import time
import uuid
from typing import Any

import httpx

FINISHED = {"success", "failed"}


class AirflowRest:
    def __init__(self, base_url: str, username: str | None = None, password: str | None = None,
                 timeout: float = 30) -> None:
        self.base = base_url.rstrip("/")
        self.client = httpx.Client(timeout=timeout)
        user = username or os.environ.get("FRESHPOC_AIRFLOW_USER", "admin")
        pw = password or os.environ.get("FRESHPOC_AIRFLOW_PASSWORD", "admin")
        resp = self.client.post(f"{self.base}/auth/token", json={"username": user, "password": pw})
        resp.raise_for_status()
        self.token = resp.json()["access_token"]
        self.client.headers["Authorization"] = f"Bearer {self.token}"

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> AirflowRest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def api(self, method: str, path: str, **kw: Any) -> Any:
        resp = self.client.request(method, f"{self.base}/api/v2{path}", **kw)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the dag-processor has parsed ``dag_id`` (new checkouts take a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            resp = self.client.get(f"{self.base}/api/v2/dags/{dag_id}")
            if resp.status_code == 200:
                return resp.json()
            if time.monotonic() > deadline:
                errors = self.api("GET", "/importErrors").get("import_errors", [])
                detail = "; ".join(e.get("filename", "") + ": " + e.get("stack_trace", "")[-300:]
                                   for e in errors) or "no import errors reported"
                raise TimeoutError(f"DAG {dag_id} did not appear within {timeout:.0f}s ({detail})")
            time.sleep(2)

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        self.wait_for_dag(dag_id)
        self.api("PATCH", f"/dags/{dag_id}", json={"is_paused": False})
        run_id = f"freshpoc__{time.strftime('%Y%m%dT%H%M%S')}_{uuid.uuid4().hex[:6]}"
        body = {"dag_run_id": run_id, "logical_date": None, "conf": conf or {}}
        return self.api("POST", f"/dags/{dag_id}/dagRuns", json=body)["dag_run_id"]

    def wait(self, dag_id: str, run_id: str, timeout: float = 600, poll: float = 2) -> str:
        """Poll the run until it finishes or ``timeout`` seconds pass.

        One slow or refused poll is not the run's answer: an api-server busy starting workers on a
        loaded machine can take longer than the client's timeout to answer a single GET (a fresh
        machine's first ``make demo`` gave up this way while its run went on), so timeouts,
        refused connections and 5xx answers are retried until the deadline; a 4xx (no such run,
        bad token) is an answer and is raised at once.
        """
        deadline = time.monotonic() + timeout
        state, last_error = "unknown", ""
        while True:
            try:
                state = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}")["state"]
                last_error = ""
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            except httpx.HTTPStatusError as exc:
                if exc.response.status_code < 500:
                    raise
                last_error = f"HTTP {exc.response.status_code}"
            if state in FINISHED:
                return state
            if time.monotonic() > deadline:
                why = f" (last poll: {last_error})" if last_error else ""
                raise TimeoutError(f"{dag_id} run {run_id} still {state} after {timeout:.0f}s{why}")
            time.sleep(poll)

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        data = self.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in data["task_instances"]}
