"""``freshpoc demo``: the end-to-end job a newcomer runs after ``make demo`` starts the stack.

Until the pipeline DAG lands, the demo triggers ``freshpoc_smoke`` through Airflow's REST API,
waits for it and prints what each task proved.
"""

from __future__ import annotations

import argparse
import sys
import time


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("demo", help="trigger the demo DAG over REST and print the result",
                            description="Trigger freshpoc_smoke on the running stack through "
                            "Airflow's REST API v2, wait for it and print each task's result. "
                            "Run 'freshpoc stack up' (or 'make demo') first.")
    parser.add_argument("--timeout", type=float, default=600, help="seconds to wait (default 600)")
    parser.set_defaults(func=_demo)


def _demo(args: argparse.Namespace) -> int:
    import httpx

    from freshpoc_tasks.stack.airflow_rest import AirflowRest
    from freshpoc_tasks.stack.config import StackConfig

    cfg = StackConfig.from_env()
    dag_id = "freshpoc_smoke"
    try:
        with AirflowRest(cfg.airflow_url) as af:
            start = time.monotonic()
            run_id = af.trigger(dag_id)
            print(f"==> triggered {dag_id} run {run_id} over REST; waiting")
            state = af.wait(dag_id, run_id, timeout=args.timeout)
            print(f"==> {dag_id} {state} in {time.monotonic() - start:.0f}s")
            for task, task_state in sorted(af.task_states(dag_id, run_id).items()):
                print(f"    {task:<24} {task_state}")
            xcom = af.api("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/report/xcomEntries/"
                          "return_value", params={"deserialize": True})
            print(f"    report: {xcom.get('value')}")
    except (httpx.HTTPError, TimeoutError) as exc:
        print(f"error: {exc} (is the stack up? 'freshpoc stack status')", file=sys.stderr)
        return 1
    print(f"\nAirflow UI: {cfg.airflow_url}/dags/{dag_id}  (login admin / admin)")
    return 0 if state == "success" else 1
