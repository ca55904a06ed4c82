"""The query API's unauthenticated liveness route: 200 for anyone, and nothing in it."""

from __future__ import annotations

from fastapi import Depends, FastAPI, HTTPException
from fastapi.testclient import TestClient

from freshpoc_tasks.api.health import LIVENESS_PATH, build_liveness_router


def deny() -> None:
    raise HTTPException(401, "no token")


def app_like_the_plugin() -> FastAPI:
    """The liveness router next to a guarded route, as create_app mounts them."""
    app = FastAPI()
    app.include_router(build_liveness_router())

    @app.get("/health", dependencies=[Depends(deny)])
    def health() -> dict[str, str]:
        return {"status": "ok", "version": "x"}

    return app


def test_liveness_answers_without_credentials_and_says_nothing_else() -> None:
    client = TestClient(app_like_the_plugin())
    resp = client.get(LIVENESS_PATH)
    assert resp.status_code == 200
    assert resp.json() == {"status": "ok"}
    assert resp.headers["cache-control"] == "no-store"
    assert client.head(LIVENESS_PATH).status_code == 200
    assert client.get("/health").status_code == 401  # the authorised one stays closed


def test_liveness_ignores_what_the_caller_sends() -> None:
    client = TestClient(app_like_the_plugin())
    resp = client.get(LIVENESS_PATH, params={"repo": "x"}, headers={"Authorization": "Bearer nonsense"})
    assert resp.json() == {"status": "ok"}
    assert client.post(LIVENESS_PATH).status_code == 405


def test_liveness_has_one_operation_id_per_method() -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # FastAPI warns on a duplicate operation id
        schema = app_like_the_plugin().openapi()
    assert list(schema["paths"][LIVENESS_PATH]) == ["get"]
