"""The audit log's HTTP surface: ``GET /audit``, ``GET /audit/verify`` (``audit:read``) and
``POST /audit/report`` (an agent's own DPoP-bound identity token), docs/design.md §4 and §7.

Every read and every refused request is itself an audit entry.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from iam_core.audit import AuditEvent
from iam_core.dpop import DPoPNonces, DPoPVerifier, NonceRequired, check_binding
from iam_core.errors import (
    BearerError,
    DPoPNonceChallenge,
    InvalidRequest,
    InvalidToken,
    OAuthError,
    TokenError,
    description_text,
)
from iam_core.http import read_json_object
from iam_core.iam import IAM
from iam_core.limits import bounded_int
from iam_core.tokens import TokenType

MAX_SQL_INT = 2**63 - 1  # an SQLite INTEGER is 64-bit
REPORTABLE_EVENTS = ("message_rejected", "handoff_refused")


def audit_router(iam: IAM, dpop: DPoPVerifier, nonces: DPoPNonces) -> APIRouter:
    router = APIRouter()

    @router.get("/audit")
    async def audit(
        request: Request,
        agent: str | None = None,
        user: str | None = None,
        actor_kind: str | None = None,
        event: str | None = None,
        trace_id: str | None = None,
    ) -> Response:
        params = request.query_params
        # Integer parameters are bounded here (an SQLite INTEGER is 64-bit), never a 500.
        since = bounded_int(
            params.get("since"), "since", default=0, low=0, high=MAX_SQL_INT, error=InvalidRequest
        )
        limit = bounded_int(
            params.get("limit"), "limit", default=1000, low=1, high=10_000, error=InvalidRequest
        )
        caller = _audit_reader(request)
        entries = iam.audit.query(
            agent=agent,
            user=user,
            actor_kind=actor_kind,
            event=event,
            trace_id=trace_id,
            since_seq=since,
            limit=limit,
        )
        iam.record(
            AuditEvent(
                event="audit.read",
                outcome="allowed",
                reason="audit:read",
                sub=caller.sub,
                client_id=caller.client_id,
                token_type=caller.token_type.value,
                jti=caller.jti,
            )
        )
        return JSONResponse({"entries": [e.to_dict() for e in entries]})

    @router.post("/audit/report")
    async def audit_report(request: Request) -> Response:
        """An agent reports a security event it saw (a rejected message, …) to the audit log.

        Only an agent, with its own DPoP-bound identity token for this issuer (RFC 9449 §7);
        the entry names the agent as subject and is marked ``reported_by``: the IAM records
        what the agent says it saw, it does not vouch for it.
        """
        scheme, _, raw = request.headers.get("authorization", "").partition(" ")
        proofs = request.headers.getlist("dpop")
        try:
            if scheme.lower() != "dpop" or len(proofs) != 1:
                raise InvalidToken("a DPoP-bound agent token and one DPoP proof are required")
            token = iam.verify_active(raw.strip(), audience=iam.issuer)
            proof = dpop.verify(
                proofs[0], method="POST", url=str(request.url), access_token=raw.strip()
            )
            check_binding(token.claims, proof)
            if token.token_type is not TokenType.AGENT:
                raise InvalidToken("only an agent's own token may report")
        except (OAuthError, TokenError) as exc:
            reason = exc.description if isinstance(exc, OAuthError) else str(exc)
            iam.record(AuditEvent(event="audit.report", outcome="denied", reason=reason))
            denial: BearerError = (
                DPoPNonceChallenge(reason)
                if isinstance(exc, NonceRequired)
                else InvalidToken(reason)
            )
            return JSONResponse(
                denial.body(),
                401,
                headers={
                    "WWW-Authenticate": denial.www_authenticate("DPoP"),
                    "DPoP-Nonce": nonces.current(),  # RFC 9449 §9
                },
            )
        body = await read_json_object(request)
        event = str(body.get("event", ""))
        if event not in REPORTABLE_EVENTS:
            raise InvalidRequest(f"event must be one of {', '.join(REPORTABLE_EVENTS)}")
        iam.record(
            AuditEvent(
                event=f"agent.{event}",
                outcome="denied",
                reason=description_text(str(body.get("reason", "")))[:300],
                sub=token.sub,
                client_id=token.client_id,
                token_type=token.token_type.value,
                jti=token.jti,
                details={"reported_by": token.sub, "from": str(body.get("from", ""))[:64]},
            )
        )
        return Response(status_code=204, headers={"DPoP-Nonce": nonces.current()})

    @router.get("/audit/verify")
    async def audit_verify(request: Request) -> Response:
        _audit_reader(request)
        result = iam.audit.verify()
        return JSONResponse(
            {
                "ok": result.ok,
                "entries_checked": result.entries_checked,
                "checkpoints_checked": result.checkpoints_checked,
                "first_bad_seq": result.first_bad_seq,
                "reason": result.reason,
            }
        )

    def _audit_reader(request: Request) -> Any:
        try:
            return iam.authorize_bearer(request.headers.get("authorization"), "audit:read")
        except OAuthError as exc:
            iam.record(
                AuditEvent(
                    event="audit.read",
                    outcome="denied",
                    reason=exc.description,
                    path=request.url.path,
                    method=request.method,
                )
            )
            exc.audited = True
            raise

    return router
