"""Liveness of the query API, for probes that hold no Airflow credentials.

``GET /freshpoc/live`` answers 200 ``{"status": "ok"}`` without authentication: whether the
plugin's app is mounted and answering inside Airflow's API server, nothing more. It carries no
data — no version, no graph figure, no server state — so answering it to anyone gives nothing
away; the authorised ``/freshpoc/health`` (version included) stays behind Airflow's access rule.
A load balancer, ``freshpoc stack status`` or a Prometheus blackbox probe can use it.
"""

from fastapi import APIRouter
from fastapi.responses import JSONResponse

LIVENESS_PATH = "/live"


def build_liveness_router() -> APIRouter:
    """A router with the one unauthenticated route; include it outside the guarded routers."""
    router = APIRouter()

    def answer() -> JSONResponse:
        # Never cached: a stale "ok" from a proxy would hide a dead API server.
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": "no-store"})

    # Two routes, not one api_route with both methods: each gets its own OpenAPI operation id.
    @router.get(LIVENESS_PATH, summary="Liveness of the query API (no authentication, no data)",
                response_model=dict[str, str])
    def live() -> JSONResponse:
        return answer()

    @router.head(LIVENESS_PATH, summary="Liveness of the query API, headers only",
                 include_in_schema=False)
    def live_head() -> JSONResponse:
        return answer()

    return router
