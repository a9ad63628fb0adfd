"""Where a person approves what an agent is about to do: ``/account/approvals``.

The page lists the person's pending OpenID CIBA requests (CIBA Core 1.0 §7.1: the
authentication device) in words — agent, app, what, how much, where, when — and, apart and
labelled as the agent's words, its ``binding_message``: the amount and payee the person reads
are the ones the token will carry (RFC 9396 §2), not what the agent chose to write. Approve
and Deny are forms with the anti-CSRF token of the other signed-in forms (``csrf.py``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from iam_core import csrf
from iam_core.approvals import Approval, ApprovalError
from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow
from iam_core.http import read_form
from iam_core.iam import IAM
from iam_core.pages import _page, _token, error_page

SESSION_COOKIE = "iam_session"
PURPOSE = "approvals"


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def approval_box(iam: IAM, approval: Approval, token: str) -> str:
    agent = iam.registry.get_agent(approval.agent_id)
    app = iam.registry.get_app(approval.client_id)
    agent_name = agent.display_name if agent else approval.agent_id
    app_name = app.name if app else approval.client_id
    what = "".join(f"<li><b>{escape(w)}</b></li>" for w in approval.words())
    rid = escape(approval.auth_req_id, quote=True)
    return (
        f"<div class='box approval' data-auth-req-id='{rid}'>"
        f"<p><b>{escape(agent_name)}</b> (<code>{escape(approval.agent_id)}</code>), through"
        f" <b>{escape(app_name)}</b>, asks to:</p><ul class=what>{what}</ul>"
        f"<p class=muted>Asked {escape(_when(approval.created_at))}; expires"
        f" {escape(_when(approval.expires_at))}.</p>"
        "<p>The agent's message (check it matches what it asks):"
        f" <q class=binding>{escape(approval.binding_message)}</q></p>"
        "<form method=post action=/account/approvals/decide>"
        f"<input type=hidden name=auth_req_id value='{rid}'>{_token(token)}"
        "<button name=decision value=approve type=submit>Approve</button>"
        "<button name=decision value=deny type=submit>Deny</button></form></div>"
    )


def as_json(iam: IAM, approval: Approval) -> dict[str, Any]:
    agent = iam.registry.get_agent(approval.agent_id)
    return {
        "auth_req_id": approval.auth_req_id,
        "agent": approval.agent_id,
        "agent_name": agent.display_name if agent else approval.agent_id,
        "app": approval.client_id,
        "what": approval.words(),
        "authorization_details": list(approval.details),
        "binding_message": approval.binding_message,
        "requested_at": _when(approval.created_at),
        "expires_at": _when(approval.expires_at),
    }


def approvals_page(iam: IAM, user: str, pending: list[Approval], token: str) -> str:
    meta = f"<meta name=csrf-token content='{escape(token, quote=True)}'>"
    rows = "".join(approval_box(iam, a, token) for a in pending)
    empty = "<p class=muted>No pending requests.</p>"
    nav = "<p><a href=/account/consents>Your consents</a></p>"
    return _page(f"Approvals for {user}", meta + (rows or empty) + nav)


def approvals_router(iam: IAM, flow: AuthorizationFlow) -> APIRouter:
    router = APIRouter()

    @router.get("/account/approvals")
    async def approvals(request: Request) -> Response:
        session = request.cookies.get(SESSION_COOKIE)
        user = flow.session_user(session)
        if user is None or session is None:
            return HTMLResponse(error_page("Approvals", "Sign in first."), status_code=401)
        pending = iam.approvals.pending_for_user(user)
        token = csrf.form_token(session, PURPOSE)
        if "application/json" in request.headers.get("accept", ""):
            # The same list for a terminal (``agent-iam approvals``), with the form token.
            return JSONResponse(
                {"csrf": token, "pending": [as_json(iam, a) for a in pending]},
                headers={"Cache-Control": "no-store"},
            )
        return HTMLResponse(
            approvals_page(iam, user, pending, token),
            headers={"Cache-Control": "no-store"},
        )

    @router.post("/account/approvals/decide")
    async def decide(request: Request) -> Response:
        form = await read_form(request)
        session = request.cookies.get(SESSION_COOKIE)
        user = flow.session_user(session)
        if user is None or session is None:
            return HTMLResponse(error_page("Approvals", "Sign in first."), status_code=401)
        why = csrf.cross_site(request, iam.issuer)
        if why is None and not csrf.token_ok(session, PURPOSE, form.get(csrf.FIELD, "")):
            why = "missing or wrong form token"
        if why:
            iam.record(
                AuditEvent(
                    event="approval.refused",
                    outcome="denied",
                    reason=f"anti-CSRF: {why}",
                    sub=user,
                )
            )
            return HTMLResponse(error_page("Forbidden", "Open the page again and retry."), 403)
        try:
            iam.approvals.decide(
                form.get("auth_req_id", ""),
                user,
                form.get("decision") == "approve",
                session=session,
            )
        except ApprovalError as exc:
            return HTMLResponse(error_page("Approvals", exc.description), status_code=400)
        return RedirectResponse("/account/approvals", status_code=303)

    return router
