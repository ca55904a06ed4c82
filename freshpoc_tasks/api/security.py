"""Access to the query API, decided by Airflow's own auth manager.

Rule: reading the graph requires read access to the Airflow connection the graph sits behind
(``freshpoc_dgraph``). Whoever may read that connection may read what it holds; nobody else. With
Airflow's SimpleAuthManager that is the ``op`` and ``admin`` roles — ``viewer`` and ``user`` get
403 — and with any other auth manager (FAB, Keycloak, ...) it is whatever that manager grants on
the connection, so operators administer graph access where they already administer Airflow.
The user itself comes from ``get_user`` (bearer token or the UI's cookie): 401 without one.
"""

from collections.abc import Awaitable, Callable
from typing import Any

GRAPH_CONN_ID = "freshpoc_dgraph"


def graph_reader(conn_id: str = GRAPH_CONN_ID) -> Callable[..., Awaitable[Any]]:
    """A FastAPI dependency: the authenticated user, if allowed to read ``conn_id``; else 401/403."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import ConnectionDetails
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import HTTPException

    async def require_graph_access(user: GetUserDep) -> Any:
        allowed = get_auth_manager().is_authorized_connection(
            method="GET", details=ConnectionDetails(conn_id=conn_id), user=user)
        if not allowed:
            raise HTTPException(403, f"reading the graph needs read access to connection {conn_id!r}")
        return user

    return require_graph_access
