"""Ontology proposals in the Airflow UI: review for every user, approve or reject for admins.

Analyzers propose node and edge types the ontology lacks; the ledger in PostgreSQL
(:class:`~freshpoc_tasks.hooks.ontology_ledger.OntologyLedgerHook`) keeps them, and approving one
marks the repositories that asked for it for reprocessing. ``freshpoc graph proposals`` does the
same from a shell; these routes put it where an Airflow admin already works.

Access, decided by Airflow's auth manager like the rest of the API:

- reading (``GET /proposals``, ``GET /proposals/page``) needs access to Airflow's plugin views
  (``AccessView.PLUGINS``): every Airflow user, the viewer role included;
- deciding (``POST /proposals/{id}``, ``decision`` approve or reject) changes what every
  repository's graph may hold and starts reprocessing, so it needs write access to Airflow's
  configuration: the admin role (SimpleAuthManager also grants it to ``op``; role-based managers
  to whoever holds that permission).

A decision from the page is a form POST authenticated by the UI's session cookie. That cookie is
``SameSite=Lax`` (no cross-site POSTs carry it), and a POST whose ``Origin`` names another site
is refused besides, so another site cannot decide for a logged-in admin.
"""

import html
import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, Protocol
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from freshpoc_tasks.api.pages import html_page
from freshpoc_tasks.api.problems import ProblemError

LEDGER_CONN_ID = "freshpoc_postgres"


class Ledger(Protocol):
    def ensure_tables(self) -> None: ...
    def proposals(self, status: str | None = None) -> list[dict[str, Any]]: ...
    def decide(self, proposal_id: int, approve: bool, by: str = "", note: str = "") -> list[str]: ...


class Proposal(BaseModel):
    id: int
    category: str
    type: str
    analyzer: str
    example: str
    seen: int
    repo_ids: list[str]
    status: str
    decided_by: str | None = None
    note: str | None = None


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    note: str = ""


class Decision(BaseModel):
    id: int
    status: str
    decided_by: str
    marked_for_reprocessing: list[str]


def default_ledger() -> Ledger:
    from freshpoc_tasks.hooks.ontology_ledger import OntologyLedgerHook

    return OntologyLedgerHook(LEDGER_CONN_ID)


def proposal_readers() -> Callable[..., Awaitable[Any]]:
    """Any Airflow user who may open plugin views (viewer and up); 401 without a user."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import HTTPException

    async def may_read(user: GetUserDep) -> Any:
        if not get_auth_manager().is_authorized_view(access_view=AccessView.PLUGINS, user=user):
            raise HTTPException(403, "reading ontology proposals needs access to plugin views")
        return user

    return may_read


def can_decide(user: Any) -> bool:
    from airflow.api_fastapi.app import get_auth_manager

    return bool(get_auth_manager().is_authorized_configuration(method="PUT", user=user))


def proposal_deciders() -> Callable[..., Awaitable[Any]]:
    """Users with write access to Airflow's configuration (admins); 401/403 otherwise."""
    from airflow.api_fastapi.core_api.security import GetUserDep
    from fastapi import HTTPException

    async def may_decide(user: GetUserDep) -> Any:
        if not can_decide(user):
            raise HTTPException(403, "approving or rejecting ontology proposals needs an admin "
                                     "(write access to Airflow's configuration)")
        return user

    return may_decide


def _user_name(user: Any) -> str:
    getter = getattr(user, "get_name", None)
    name = getter() if callable(getter) else getattr(user, "username", None)
    return str(name or "airflow user")


def _cross_site(request: Request) -> bool:
    """A browser names the page a POST comes from in ``Origin``; another host (or an opaque
    "null" origin) means the form was not ours."""
    origin = request.headers.get("origin")
    return origin is not None and urlsplit(origin).netloc != request.headers.get("host", "")


def build_proposals_router(ledger_of: Callable[[], Ledger],
                           read_access: Callable[..., Any], decide_access: Callable[..., Any],
                           may_decide: Callable[[Any], bool] = can_decide) -> APIRouter:
    """``ledger_of()`` gives the ledger (created on first use: no database at import)."""
    r = APIRouter(tags=["ontology"])
    Reader = Annotated[Any, Depends(read_access)]
    Decider = Annotated[Any, Depends(decide_access)]
    state: dict[str, Ledger] = {}

    def ledger() -> Ledger:
        if "ledger" not in state:
            found = ledger_of()
            found.ensure_tables()
            state["ledger"] = found
        return state["ledger"]

    def rows(status: str | None) -> list[Proposal]:
        return [Proposal(**{**x, "repo_ids": list(x.get("repo_ids") or [])})
                for x in ledger().proposals(status)]

    @r.get("/proposals", summary="Ontology proposals (types analyzers asked for), oldest first")
    def list_proposals(user: Reader, status: str | None = None) -> list[Proposal]:
        if status not in {None, "proposed", "approved", "rejected"}:
            raise ProblemError(400, "status must be proposed, approved or rejected")
        return rows(status)

    @r.get("/proposals/page", response_class=HTMLResponse,
           summary="Review page: every user sees the proposals, admins approve or reject them")
    def proposals_page(request: Request, user: Reader) -> HTMLResponse:
        base = request.scope.get("root_path", "")
        decide = may_decide(user)
        e = html.escape
        body = []
        for p in rows(None):
            actions = ""
            if decide and p.status == "proposed":
                actions = (f'<form class="inline" method="post" action="{e(base)}/proposals/{p.id}">'
                           '<input name="note" placeholder="why (recorded)" size="18"> '
                           '<button name="decision" value="approve">approve</button> '
                           '<button name="decision" value="reject">reject</button></form>')
            elif p.status != "proposed":
                actions = e(f"{p.status} by {p.decided_by or '?'}" + (f": {p.note}" if p.note else ""))
            body.append(
                f"<tr><td>{p.id}</td><td>{e(p.category)}</td><td><code>{e(p.type)}</code></td>"
                f"<td>{e(p.analyzer)}</td><td><code>{e(p.example[:200])}</code></td><td>{p.seen}</td>"
                f"<td>{e(', '.join(p.repo_ids))}</td><td>{e(p.status)}</td><td>{actions}</td></tr>")
        who = ("You can approve or reject." if decide else
               "Only an admin can approve or reject; you can review.")
        table = ("<table><thead><tr><th>id</th><th>kind</th><th>type</th><th>analyzer</th>"
                 "<th>example</th><th>seen</th><th>repositories</th><th>status</th><th>decision</th>"
                 f"</tr></thead><tbody>{''.join(body)}</tbody></table>") if body else \
            "<p>No ontology proposals: every type the analyzers met is in the ontology.</p>"
        intro = ("<p>Types the analyzers met that the ontology lacks. Approving one marks the "
                 "repositories that asked for it for reprocessing (<code>freshpoc_reprocess</code>). "
                 f"{e(who)}</p>")
        return HTMLResponse(html_page("Ontology proposals", intro + table, base))

    @r.get("/proposals/{proposal_id}", summary="One ontology proposal")
    def one_proposal(user: Reader, proposal_id: int) -> Proposal:
        found = [p for p in rows(None) if p.id == proposal_id]
        if not found:
            raise ProblemError(404, f"no ontology proposal {proposal_id}")
        return found[0]

    @r.post("/proposals/{proposal_id}", response_model=Decision,
            summary="Approve or reject a proposal (admin); approving marks its repositories for reprocessing",
            openapi_extra={"requestBody": {"content": {
                "application/json": {"schema": DecisionIn.model_json_schema()},
                "application/x-www-form-urlencoded": {"schema": DecisionIn.model_json_schema()}}}})
    async def decide(request: Request, user: Decider, proposal_id: int) -> Any:
        """JSON ``{"decision": "approve", "note": "..."}`` answers JSON; the page's form
        (``decision``, ``note`` fields) is sent back to the page."""
        form = "application/x-www-form-urlencoded" in request.headers.get("content-type", "")
        if _cross_site(request):
            raise ProblemError(403, "cross-site decision refused")
        raw = (await request.body()).decode("utf-8", "replace")
        try:
            fields = {k: v[0] for k, v in parse_qs(raw).items()} if form else json.loads(raw or "{}")
            wanted = DecisionIn.model_validate(fields)
        except (ValueError, TypeError) as exc:
            raise ProblemError(400, 'send {"decision": "approve" or "reject", "note": "..."}: '
                                    + str(exc).splitlines()[0]) from None
        by = _user_name(user)
        approve = wanted.decision == "approve"
        try:
            marked = await run_in_threadpool(ledger().decide, proposal_id, approve, by, wanted.note[:500])
        except KeyError:
            raise ProblemError(404, f"no ontology proposal {proposal_id}") from None
        if form:
            return RedirectResponse(f"{request.scope.get('root_path', '')}/proposals/page", status_code=303)
        return JSONResponse(Decision(id=proposal_id, status="approved" if approve else "rejected",
                                     decided_by=by, marked_for_reprocessing=marked).model_dump())

    return r
