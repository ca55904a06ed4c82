"""``freshpoc settings``: connections, pools and variables from airflow_settings.yaml."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "settings", help="apply airflow_settings.yaml to an Airflow",
        description="Connections, pools and variables kept in airflow_settings.yaml (the Astro "
        "CLI schema), applied to any Airflow 3 through its REST API.")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    apply = verbs.add_parser(
        "apply", help="create or update every entry (idempotent)",
        description="Create missing entries and update changed ones through Airflow's REST API "
        "v2; a second run reports everything unchanged.")
    apply.add_argument("--file", type=Path,
                       help="settings file (default: ./airflow_settings.yaml, else the checkout's)")
    apply.add_argument("--url", default=os.environ.get("FRESHPOC_AIRFLOW_URL", "http://127.0.0.1:8080"),
                       help="Airflow base URL (default: $FRESHPOC_AIRFLOW_URL or the local stack)")
    apply.add_argument("--username", help="Airflow user (default: $FRESHPOC_AIRFLOW_USER or admin)")
    apply.add_argument("--password", help="password (default: $FRESHPOC_AIRFLOW_PASSWORD or admin)")
    apply.set_defaults(func=_apply)


def _apply(args: argparse.Namespace) -> int:
    import httpx

    from freshpoc_tasks.stack.settings import SettingsError, apply_settings

    path = args.file
    if path is None:  # the working directory's file, else the checkout's: works from any folder
        from freshpoc_tasks.stack.config import StackConfig

        local = Path("airflow_settings.yaml")
        path = local if local.is_file() else StackConfig.from_env().checkout / local
    try:
        counts = apply_settings(path, args.url.rstrip("/"), args.username, args.password)
    except (SettingsError, httpx.HTTPError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0
