"""The token endpoint (RFC 6749 §3.2, §5): authenticate the client, run its grant, audit.

The grants themselves are in their own modules: :mod:`~iam_core.grants.client_credentials`,
:mod:`~iam_core.grants.authorization_code`, :mod:`~iam_core.grants.token_exchange` and
:mod:`~iam_core.grants.handoff`. Every issued or refused token is an audit entry naming the
grant, the client, ``sub``, the ``act`` chain, the scope asked for and the scope granted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from iam_core.audit import AuditEvent
from iam_core.authorization import AuthorizationFlow
from iam_core.client_auth import Client, ClientAuthenticator
from iam_core.dpop import DPoPProof, DPoPVerifier
from iam_core.errors import (
    InvalidDPoPProof,
    InvalidRequest,
    OAuthError,
    TemporarilyUnavailable,
    TokenError,
    UnauthorizedClient,
    UnsupportedGrantType,
)
from iam_core.grants.authorization_code import authorization_code
from iam_core.grants.ciba import ciba_grant
from iam_core.grants.client_credentials import client_credentials
from iam_core.grants.issue import ACCESS_TOKEN_TYPE, Issued
from iam_core.grants.token_exchange import token_exchange
from iam_core.iam import IAM
from iam_core.policy import act_chain, format_scope
from iam_core.registry import (
    GRANT_AUTHORIZATION_CODE,
    GRANT_CIBA,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
)
from iam_core.tasks import is_task_token
from iam_core.tokens import Token, parse_compact


class TokenEndpoint:
    """The token endpoint of ``iam``: one request at a time, one transaction each."""

    def __init__(
        self,
        iam: IAM,
        flow: AuthorizationFlow,
        clients: ClientAuthenticator,
        *,
        dpop: DPoPVerifier | None = None,
    ) -> None:
        self._iam = iam
        self._flow = flow
        self._clients = clients
        # Given: the proofs handed in are unrecorded (``verify(record=False)``), and their jti
        # is recorded here once the client is authenticated, never before.
        self._dpop = dpop

    def handle(
        self,
        form: Mapping[str, str],
        authorization: str | None,
        dpop: DPoPProof | None = None,
    ) -> dict[str, Any]:
        """Run one token request; returns the RFC 6749 §5.1 response or raises OAuthError.

        With a verified DPoP proof the token is bound to its key (``cnf.jkt``, RFC 9449 §6).
        """
        grant = form.get("grant_type")
        client: Client | None = None
        # One transaction for the whole request: the assertion's jti, the issued token and
        # its audit entry (or the refusal's) are committed together, once.
        with self._iam.store.transaction():
            try:
                if not grant:
                    raise InvalidRequest("grant_type is required")
                if grant not in (
                    GRANT_CLIENT_CREDENTIALS,
                    GRANT_AUTHORIZATION_CODE,
                    GRANT_TOKEN_EXCHANGE,
                    GRANT_CIBA,
                ):
                    raise UnsupportedGrantType(f"grant_type {grant[:80]!r} is not supported")
                client = self._clients.authenticate(form, authorization)
                if dpop is not None and self._dpop is not None:
                    _record(self._dpop, dpop)
                quota = self._iam.token_quota
                if client.kind == "agent" and quota is not None:
                    count = quota.take(client.id)
                    if count is not None:
                        # Denial of wallet (docs/attacks.md #16): a looping agent is throttled.
                        raise TemporarilyUnavailable(
                            f"quota exceeded: {client.id} asked for {count} tokens within "
                            f"{quota.spec.window} s (limit {quota.spec.limit})"
                        )
                if grant not in client.grant_types:
                    raise UnauthorizedClient(f"client {client.id} may not use {grant}")
                if grant == GRANT_CLIENT_CREDENTIALS:
                    issued = client_credentials(self._iam, client, form, dpop)
                elif grant == GRANT_AUTHORIZATION_CODE:
                    issued = authorization_code(self._iam, self._flow, client, form, dpop)
                elif grant == GRANT_CIBA:
                    issued = ciba_grant(self._iam, client, form, dpop)
                else:
                    issued = token_exchange(self._iam, client, form, dpop)
                return self._respond(grant, issued)
            except OAuthError as exc:
                self._refused(grant, client, form, exc)
                exc.audited = True
                refusal = exc
        raise refusal

    def _subject_of(self, raw: str | None) -> Token | None:
        """The subject token's verified claims, for the audit of a refusal; None if invalid."""
        if not raw:
            return None
        try:
            return self._iam.verifier.verify(raw, audience=None)
        except (TokenError, ValueError):
            return None

    def _respond(self, grant: str, issued: Issued) -> dict[str, Any]:
        claims = issued.claims
        with self._iam.store.transaction():
            self._iam.revocations.record_issued(claims)
            self._iam.record(
                AuditEvent(
                    event="token.issued",
                    outcome="allowed",
                    reason=f"{claims.token_type.value} token issued",
                    sub=claims.sub,
                    act=claims.actors,
                    client_id=claims.client_id,
                    token_type=claims.token_type.value,
                    jti=claims.jti,
                    scope=format_scope(claims.scopes),
                    object_id=claims.audience,
                    details={
                        "grant_type": grant,
                        "scope_requested": format_scope(issued.requested),
                        "scope_granted": format_scope(claims.scopes),
                        **_task_details(claims),
                    },
                )
            )
        bound = "cnf" in claims.claims
        response: dict[str, Any] = {
            "access_token": issued.token,
            "token_type": "DPoP" if bound else "Bearer",
            "expires_in": claims.exp - claims.iat,
            "scope": format_scope(claims.scopes),
        }
        if grant == GRANT_TOKEN_EXCHANGE:
            response["issued_token_type"] = ACCESS_TOKEN_TYPE
        return response

    def _refused(
        self, grant: str | None, client: Client | None, form: Mapping[str, str], exc: OAuthError
    ) -> None:
        actors: tuple[str, ...] = ()
        # Unauthenticated (a blocked agent, say): the client the request claims to be.
        sub = client.id if client else _claimed_client(form)
        if grant == GRANT_AUTHORIZATION_CODE:
            # A code names whom it concerned: its user and requested actor, not the app.
            code = self._flow.code_subject(form["code"]) if form.get("code") else None
            sub, agent = code if code is not None else (None, None)
            actors = (agent,) if agent else ()
        elif "actor_token" in form and client is not None and client.kind == "agent":
            actors = act_chain({"sub": client.id})
            # A refused delegation names whom it was for: the subject token's user and its
            # chain with this agent in front (the trail of docs/attacks.md #5, #6, #7).
            subject = self._subject_of(form.get("subject_token"))
            if subject is not None:
                sub = subject.sub
                actors = (
                    subject.actors
                    if subject.actors[:1] == (client.id,)
                    else (
                        client.id,
                        *subject.actors,
                    )
                )
        self._iam.record(
            AuditEvent(
                event="token.refused",
                outcome="denied",
                reason=f"{exc.error}: {exc.description}",
                sub=sub,
                act=actors,
                client_id=client.id if client else _claimed_client(form),
                details={
                    "grant_type": (grant or "")[:80],
                    "scope_requested": (form.get("scope") or "")[:200],
                },
            )
        )


def _claimed_client(form: Mapping[str, str]) -> str | None:
    """The client a request claims to be: ``client_id``, else its assertion's unverified
    ``iss`` (RFC 7523 §3: the client's id), for the audit entry of a refusal only."""
    client_id = form.get("client_id")
    if not client_id and form.get("client_assertion"):
        try:
            claimed = parse_compact(form["client_assertion"]).claims.get("iss")
        except TokenError:
            claimed = None
        client_id = claimed if isinstance(claimed, str) else None
    return client_id[:64] if client_id else None


def _task_details(claims: Token) -> dict[str, str]:
    """The task a token belongs to, or the agent a task token was opened for (tasks.py)."""
    if isinstance(task := claims.claims.get("task"), str):
        return {"task_jti": task}
    may_act = claims.claims.get("may_act")
    if is_task_token(claims) and isinstance(may_act, dict):
        return {"task_for": str(may_act.get("sub"))}
    return {}


def _record(verifier: DPoPVerifier, proof: DPoPProof) -> None:
    """The proof's jti into the replay store, bounded per key (RFC 9449 §11.1)."""
    try:
        verifier.record(proof)
    except TokenError as exc:
        raise InvalidDPoPProof(str(exc)) from exc
