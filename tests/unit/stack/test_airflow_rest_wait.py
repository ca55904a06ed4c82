"""Waiting for a DAG run survives a slow or failing poll, and still stops at real answers."""

from __future__ import annotations

import httpx
import pytest

from freshpoc_tasks.stack.airflow_rest import AirflowRest


def _rest(answers: list) -> AirflowRest:
    """An AirflowRest whose polls get ``answers`` in order (an exception is raised, a tuple is
    (status, state))."""
    seen = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        answer = next(seen)
        if isinstance(answer, Exception):
            raise answer
        status, state = answer
        return httpx.Response(status, json={"state": state} if status == 200 else {"detail": "x"})

    rest = AirflowRest.__new__(AirflowRest)
    rest.base = "http://airflow.test"
    rest.client = httpx.Client(transport=httpx.MockTransport(handler))
    return rest


def test_timeouts_and_5xx_are_retried_until_the_run_finishes() -> None:
    rest = _rest([httpx.ReadTimeout("slow"), (503, ""), httpx.ConnectError("refused"),
                  (200, "running"), (200, "success")])
    assert rest.wait("d", "r", timeout=30, poll=0) == "success"


def test_a_4xx_is_an_answer_not_a_hiccup() -> None:
    rest = _rest([(404, "")])
    with pytest.raises(httpx.HTTPStatusError):
        rest.wait("d", "r", timeout=30, poll=0)


def test_the_deadline_names_the_last_failed_poll() -> None:
    rest = _rest([httpx.ReadTimeout("slow")] * 1000)
    with pytest.raises(TimeoutError, match="ReadTimeout"):
        rest.wait("d", "r", timeout=0.05, poll=0.01)
