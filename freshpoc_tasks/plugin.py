"""The FreshPoC Airflow plugin, found through the ``airflow.plugins`` entry point.

It serves the query API (``freshpoc_tasks.api``) inside Airflow's own API server under
``/freshpoc``, so the graph is queried with Airflow's users and roles, and adds a "FreshPoC
reports" entry to Airflow's navigation that opens the report browser the API serves (the page
is authorised by the same rule as the API, through the UI's cookie), and an "Ontology proposals"
entry where every user reviews the types analyzers asked for and an admin approves or rejects
them (:mod:`freshpoc_tasks.api.proposals`).
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

URL_PREFIX = "/freshpoc"


def _fastapi_apps() -> list[dict[str, object]]:
    from freshpoc_tasks.api.app import create_app

    return [{"app": create_app(), "url_prefix": URL_PREFIX, "name": "FreshPoC query API"}]


class FreshPocPlugin(AirflowPlugin):
    name = "freshpoc"
    fastapi_apps = _fastapi_apps()
    external_views = [{
        "name": "FreshPoC reports",
        "href": f"{URL_PREFIX}/reports",
        "destination": "nav",
        "category": "browse",
        "url_route": "freshpoc-reports",
    }, {
        "name": "Ontology proposals",
        "href": f"{URL_PREFIX}/proposals/page",
        "destination": "nav",
        "category": "admin",
        "url_route": "freshpoc-proposals",
    }]
