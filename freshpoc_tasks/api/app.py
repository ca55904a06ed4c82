"""The FastAPI application the plugin mounts at ``/freshpoc``.

Airflow does not authenticate plugin apps, so every route depends on Airflow's own user
resolution (bearer token or UI cookie): the API has exactly Airflow's users.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI

from freshpoc_tasks import __version__


def _current_user():
    # Imported lazily: Airflow's security module needs a configured Airflow.
    from airflow.api_fastapi.core_api.security import get_user

    return get_user


def create_app() -> FastAPI:
    app = FastAPI(title="FreshPoC query API", version=__version__,
                  description="Code knowledge graph queries, served inside Airflow.")
    get_user = _current_user()

    @app.get("/health", summary="API liveness, for an authenticated Airflow user")
    async def health(user: Annotated[object, Depends(get_user)]) -> dict[str, str]:
        return {"status": "ok", "version": __version__}

    return app
