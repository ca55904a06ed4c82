"""The FreshPoC Airflow plugin, found through the ``airflow.plugins`` entry point.

It serves the query API (``freshpoc_tasks.api``) inside Airflow's own API server under
``/freshpoc``, so the graph is queried with Airflow's users and roles.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin


def _fastapi_apps() -> list[dict[str, object]]:
    from freshpoc_tasks.api.app import create_app

    return [{"app": create_app(), "url_prefix": "/freshpoc", "name": "FreshPoC query API"}]


class FreshPocPlugin(AirflowPlugin):
    name = "freshpoc"
    fastapi_apps = _fastapi_apps()
