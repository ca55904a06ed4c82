"""How a command run from a plain shell reaches the local stack's servers.

Hooks resolve Airflow connections (``freshpoc_dgraph``, ``freshpoc_postgres``, ...). Inside
Airflow's processes the metadata database holds them; a shell has neither that database's
address nor ``AIRFLOW_CONN_*`` variables, so ``freshpoc graph proposals`` used to end in
"The conn_id freshpoc_postgres isn't defined". :func:`use_local_stack` gives this process the
same connections ``freshpoc demo`` and the tests use (:func:`~freshpoc_tasks.stack.services.client_env`,
built from ``airflow_settings.yaml``), without overriding anything the user set, and
:func:`one_line_errors` turns what a server or a missing setting raises into one line saying
what to do (``-v`` keeps the traceback for debugging).
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Callable

from freshpoc_tasks.stack.config import StackConfig

SETTINGS_FILE = "airflow_settings.yaml"


class ClientSetupError(RuntimeError):
    """The stack's connections cannot be found; the message says what to set."""


def use_local_stack(cfg: StackConfig | None = None, *, quiet: bool = True) -> dict[str, str]:
    """Point this process's hooks at the local stack; returns the variables it set.

    Variables already in the environment win, so ``AIRFLOW_CONN_FRESHPOC_DGRAPH=...`` (or a whole
    Airflow configuration) still points a command elsewhere. Must run before ``airflow`` is
    imported for the Airflow settings to apply; connections apply either way (Airflow reads
    ``AIRFLOW_CONN_*`` when a hook asks).
    """
    from freshpoc_tasks.stack.services import client_env
    from freshpoc_tasks.stack.settings import SettingsError

    cfg = cfg or StackConfig.from_env()
    if not (cfg.checkout / SETTINGS_FILE).is_file():
        raise ClientSetupError(
            f"no {SETTINGS_FILE} in {cfg.checkout}: run from a FreshPoC checkout, set "
            "FRESHPOC_CHECKOUT to one, or set AIRFLOW_CONN_FRESHPOC_<NAME> for each connection")
    try:
        wanted = client_env(cfg)
    except SettingsError as exc:
        raise ClientSetupError(str(exc)) from exc
    added = {k: v for k, v in wanted.items() if k not in os.environ}
    if quiet and "AIRFLOW__LOGGING__LOGGING_LEVEL" in added:
        # Hooks log every statement at INFO (the stack's level); a command prints its own answer.
        added["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    if "AIRFLOW__METRICS__STATSD_ON" in added:
        # A shell command is a client of the stack, not one of its processes: Airflow's
        # import-time timers would reach the exporter as the pipeline's, and the statsd socket
        # they open is never closed (a ResourceWarning was the last line of `make demo`).
        added["AIRFLOW__METRICS__STATSD_ON"] = "False"
    os.environ.update(added)
    return added


def describe(exc: BaseException) -> str:
    """One line for an error a command cannot recover from, with what to try next."""
    name = type(exc).__name__
    details = getattr(exc, "details", None)  # grpc errors hide their message behind details()
    text = details() if callable(details) else str(exc)
    first = (str(text or "").strip().splitlines() or [""])[0][:300]
    module = type(exc).__module__.split(".")[0]
    if name == "AirflowNotFoundException" or "isn't defined" in first:
        return (f"{first}; run from a FreshPoC checkout or set AIRFLOW_CONN_<CONN_ID> "
                "(see airflow_settings.yaml)")
    if module in {"grpc", "pydgraph", "psycopg2", "psycopg", "weaviate", "httpx", "botocore",
                  "urllib3", "confluent_kafka"} or isinstance(exc, ConnectionError | TimeoutError):
        return f"{name}: {first or 'server unreachable'} (is the stack up? 'freshpoc stack status')"
    return f"{name}: {first}"


def one_line_errors(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Decorate a subcommand: known setup problems and server errors print one ``error:`` line
    and exit 1; with ``-v`` the traceback is kept."""

    @functools.wraps(fn)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return fn(args)
        except KeyboardInterrupt:
            raise
        except ClientSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
        except Exception as exc:
            if getattr(args, "verbose", 0):
                raise
            print(f"error: {describe(exc)}", file=sys.stderr)
            return 1

    return wrapper
