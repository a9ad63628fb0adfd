"""Authorization requests, browser sessions and authorization codes (RFC 6749 §4.1).

PKCE with S256 is required for every request (RFC 7636 §4; RFC 9700 §2.1.1). With
``requested_actor`` the request is the on-behalf-of flow of
draft-oauth-ai-agents-on-behalf-of-user-02 §4: the code is bound to the user, the client,
the redirect URI and the requested actor; it is single-use and short-lived, and redeeming
it needs that actor's own agent token.

Codes and session ids are random 256-bit values; only their SHA-256 digests are stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from iam_core.audit import AuditEvent
from iam_core.errors import InvalidGrant, InvalidRequest, OAuthError
from iam_core.iam import IAM
from iam_core.policy import format_scope, parse_scope
from iam_core.registry import GRANT_AUTHORIZATION_CODE, App
from iam_core.safe_json import loads as bounded_json

_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")  # RFC 7636 §4.1
SESSION_LIFETIME = 3600
REQUEST_LIFETIME = 600
MAX_AUTHORIZATION_DETAILS = 4096
AUTHORIZATION_DETAILS_TYPES = ("hotel_booking", "payment")

SCHEMA = """
CREATE TABLE IF NOT EXISTS auth_requests (
    id TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL, state TEXT, code_challenge TEXT NOT NULL, requested_actor TEXT,
    resource TEXT, authorization_details TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    digest TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_codes (
    digest TEXT PRIMARY KEY, client_id TEXT NOT NULL, redirect_uri TEXT NOT NULL,
    user_id TEXT NOT NULL, scopes TEXT NOT NULL, requested_actor TEXT, resource TEXT,
    authorization_details TEXT NOT NULL, code_challenge TEXT NOT NULL,
    expires_at REAL NOT NULL, used INTEGER NOT NULL DEFAULT 0, issued_jti TEXT
);
"""


class RedirectableError(OAuthError):
    """An error to send back to the client's redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, inner: OAuthError, redirect_uri: str, state: str | None) -> None:
        super().__init__(inner.description)
        self.error = inner.error
        self.redirect_uri = redirect_uri
        self.state = state


@dataclass(frozen=True, slots=True)
class AuthRequest:
    id: str
    client_id: str
    redirect_uri: str
    scopes: frozenset[str]
    state: str | None
    code_challenge: str
    requested_actor: str | None
    resource: str | None
    authorization_details: tuple[dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class AuthCode:
    client_id: str
    redirect_uri: str
    user_id: str
    scopes: frozenset[str]
    requested_actor: str | None
    resource: str | None
    authorization_details: tuple[dict[str, Any], ...]
    digest: str


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def s256(verifier: str) -> str:
    """RFC 7636 §4.2: BASE64URL(SHA256(ASCII(code_verifier)))."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def parse_authorization_details(raw: str | None) -> tuple[dict[str, Any], ...]:
    """RFC 9396 §2: a JSON array of objects, each with a known ``type``."""
    if not raw:
        return ()
    if len(raw) > MAX_AUTHORIZATION_DETAILS:
        raise InvalidRequest("authorization_details is too large")
    try:
        value = bounded_json(raw, max_bytes=MAX_AUTHORIZATION_DETAILS)
    except ValueError as exc:
        raise _details_error("authorization_details is not valid JSON") from exc
    if not isinstance(value, list) or not all(isinstance(d, dict) for d in value):
        raise _details_error("authorization_details must be a JSON array of objects")
    for detail in value:
        fields = DETAIL_FIELDS.get(detail.get("type"))
        if fields is None:
            raise _details_error(
                f"authorization_details type must be one of {AUTHORIZATION_DETAILS_TYPES}"
            )
        for name, (kind, required) in fields.items():
            if required and name not in detail:
                raise _details_error(f"{detail['type']} needs {name}")
            if name in detail and not _fits(detail[name], kind):
                raise _details_error(f"{detail['type']}.{name} must be {kind}")
        unknown = set(detail) - set(fields) - {"type"}
        if unknown:
            raise _details_error(f"{detail['type']} does not take {', '.join(sorted(unknown))}")
    return tuple(value)


# The detail types this deployment understands (RFC 9396 §2): each field's kind and whether
# it is required. Unknown fields are refused: a grant must mean exactly what it says.
DETAIL_FIELDS: dict[str, dict[str, tuple[str, bool]]] = {
    "hotel_booking": {
        "hotel_id": ("an id", True),
        "check_in": ("a date", True),
        "check_out": ("a date", True),
        "room_type": ("an id", False),
        "max_total_cents": ("a positive integer", False),
    },
    "payment": {
        "max_amount_cents": ("a positive integer", True),
        "currency": ("an id", False),
        # What the grant pays: a named booking, or the stay an agent books under the same
        # consent (the booking id does not exist yet when the guest consents).
        "booking_id": ("an id", False),
        "hotel_id": ("an id", False),
        "check_in": ("a date", False),
        "check_out": ("a date", False),
    },
}


def _fits(value: Any, kind: str) -> bool:
    if kind == "a positive integer":
        return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= 10**9
    if not isinstance(value, str) or not 0 < len(value) <= 64:
        return False
    if kind == "a date":
        try:
            date.fromisoformat(value)
        except ValueError:
            return False
    return True


def _details_error(message: str) -> OAuthError:
    error = InvalidRequest(message)
    error.error = "invalid_authorization_details"  # RFC 9396 §5
    return error


class AuthorizationFlow:
    """State of the authorization endpoint: pending requests, sessions and codes."""

    def __init__(self, iam: IAM) -> None:
        self._iam = iam
        iam.store.ensure_schema(SCHEMA)

    # -- the authorization request -------------------------------------------------------
    def client_for(self, params: Mapping[str, str]) -> tuple[App, str]:
        """The client and redirect URI, checked before anything may be redirected (§4.1.2.1)."""
        client_id = params.get("client_id", "")
        app = self._iam.registry.get_app(client_id)
        if app is None or not app.active:
            raise self._refused(params, InvalidRequest("unknown client_id"))
        redirect_uri = params.get("redirect_uri") or (
            app.redirect_uris[0] if len(app.redirect_uris) == 1 else ""
        )
        if redirect_uri not in app.redirect_uris:
            error = InvalidRequest("redirect_uri is not registered for this client")
            raise self._refused(params, error)
        return app, redirect_uri

    def _refused(self, params: Mapping[str, str], exc: OAuthError) -> OAuthError:
        """Audit a refusal answered with an error page, not a redirect (RFC 6749 §4.1.2.1):
        it names the client, agent and redirect URI the request claimed."""
        actor = (params.get("requested_actor") or "")[:64]
        self._iam.record(
            AuditEvent(
                event="request.refused",
                outcome="denied",
                reason=f"{exc.error}: {exc.description}",
                method="GET",
                path="/authorize",
                client_id=(params.get("client_id") or "")[:64] or None,
                act=(actor,) if actor else (),
                details={"redirect_uri": (params.get("redirect_uri") or "")[:200]},
            )
        )
        exc.audited = True
        return exc

    def code_subject(self, code: str) -> tuple[str, str | None] | None:
        """The user and requested actor a code was issued for, to name them when its
        redemption is refused; None for a code never issued."""
        row = self._iam.store.one(
            "SELECT user_id, requested_actor FROM auth_codes WHERE digest = ?", (_digest(code),)
        )
        return None if row is None else (str(row[0]), row[1])

    def start(self, params: Mapping[str, str]) -> AuthRequest:
        app, redirect_uri = self.client_for(params)
        state = params.get("state")
        try:
            request = self._validate(app, redirect_uri, params)
        except OAuthError as exc:
            raise RedirectableError(exc, redirect_uri, state) from exc
        self._iam.store.execute(
            "INSERT INTO auth_requests VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                request.id,
                request.client_id,
                request.redirect_uri,
                format_scope(request.scopes),
                request.state,
                request.code_challenge,
                request.requested_actor,
                request.resource,
                json.dumps(list(request.authorization_details)),
                self._iam.clock.now() + REQUEST_LIFETIME,
            ),
        )
        return request

    def _validate(self, app: App, redirect_uri: str, params: Mapping[str, str]) -> AuthRequest:
        if params.get("response_type") != "code":
            error = InvalidRequest("response_type must be code")
            error.error = "unsupported_response_type"
            raise error
        if GRANT_AUTHORIZATION_CODE not in app.grant_types:
            raise InvalidRequest("this client may not use the authorization code grant")
        challenge = params.get("code_challenge", "")
        if params.get("code_challenge_method") != "S256" or not 43 <= len(challenge) <= 128:
            raise InvalidRequest("PKCE is required: code_challenge with code_challenge_method S256")
        try:
            scopes = parse_scope(params.get("scope"))
        except ValueError as exc:
            error = InvalidRequest(str(exc))
            error.error = "invalid_scope"
            raise error from exc
        if not scopes:
            error = InvalidRequest("scope is required")
            error.error = "invalid_scope"
            raise error
        actor = params.get("requested_actor") or None
        if actor is not None:
            agent = self._iam.registry.get_agent(actor)
            if agent is None or not agent.active:
                raise InvalidRequest(f"requested_actor {actor[:64]!r} is not an active agent")
        resource = params.get("resource") or None
        if resource is not None:
            self._iam.resource(resource, scopes)
        return AuthRequest(
            id=secrets.token_urlsafe(24),
            client_id=app.id,
            redirect_uri=redirect_uri,
            scopes=scopes,
            state=params.get("state"),
            code_challenge=challenge,
            requested_actor=actor,
            resource=resource,
            authorization_details=parse_authorization_details(params.get("authorization_details")),
        )

    def pending(self, request_id: str) -> AuthRequest | None:
        row = self._iam.store.one(
            "SELECT * FROM auth_requests WHERE id = ? AND expires_at > ?",
            (request_id, self._iam.clock.now()),
        )
        if row is None:
            return None
        return AuthRequest(
            id=row["id"],
            client_id=row["client_id"],
            redirect_uri=row["redirect_uri"],
            scopes=parse_scope(row["scopes"]),
            state=row["state"],
            code_challenge=row["code_challenge"],
            requested_actor=row["requested_actor"],
            resource=row["resource"],
            authorization_details=tuple(json.loads(row["authorization_details"])),
        )

    def grantable(self, request: AuthRequest, user_id: str) -> frozenset[str]:
        """What the consent page may offer: requested ∩ the user's ∩ the agent's delegable."""
        user = self._iam.registry.get_user(user_id)
        if user is None:
            return frozenset()
        scopes = request.scopes & self._iam.policy.user_scopes(user.roles)
        if request.requested_actor:
            agent = self._iam.registry.get_agent(request.requested_actor)
            scopes &= agent.delegable if agent else frozenset()
        return scopes

    def issue_code(self, request: AuthRequest, user_id: str, scopes: frozenset[str]) -> str:
        """Consume the pending request and mint a single-use code bound to it."""
        code = secrets.token_urlsafe(32)
        with self._iam.store.transaction() as tx:
            if tx.execute("DELETE FROM auth_requests WHERE id = ?", (request.id,)).rowcount != 1:
                raise InvalidRequest("authorization request already completed")
            tx.execute(
                "INSERT INTO auth_codes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, NULL)",
                (
                    _digest(code),
                    request.client_id,
                    request.redirect_uri,
                    user_id,
                    format_scope(scopes),
                    request.requested_actor,
                    request.resource,
                    json.dumps(list(request.authorization_details)),
                    request.code_challenge,
                    self._iam.clock.now() + self._iam.config.code_lifetime,
                ),
            )
        return code

    def drop(self, request_id: str) -> None:
        self._iam.store.execute("DELETE FROM auth_requests WHERE id = ?", (request_id,))

    # -- sessions ------------------------------------------------------------------------
    def open_session(self, user_id: str) -> str:
        session = secrets.token_urlsafe(32)
        self._iam.store.execute(
            "INSERT INTO sessions VALUES (?, ?, ?)",
            (_digest(session), user_id, self._iam.clock.now() + SESSION_LIFETIME),
        )
        return session

    @staticmethod
    def csrf_token(session: str, request_id: str) -> str:
        """The consent form's anti-CSRF token: bound to this browser session and request.

        Only a page shown to the session's holder carries it; another origin (even on the
        same site, where SameSite=Lax cookies still flow) cannot read it.
        """
        return hmac.new(session.encode(), request_id.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def csrf_ok(cls, session: str, request_id: str, given: str) -> bool:
        """Whether ``given`` is the consent form's token, compared in constant time."""
        expected = cls.csrf_token(session, request_id)
        return hmac.compare_digest(given.encode(), expected.encode())

    def session_user(self, session: str | None) -> str | None:
        if not session:
            return None
        row = self._iam.store.one(
            "SELECT user_id FROM sessions WHERE digest = ? AND expires_at > ?",
            (_digest(session), self._iam.clock.now()),
        )
        if row is None:
            return None
        user = self._iam.registry.get_user(row["user_id"])
        return user.id if user and user.active else None

    # -- code redemption -----------------------------------------------------------------
    def redeem(
        self, code: str, *, client_id: str, redirect_uri: str | None, verifier: str | None
    ) -> AuthCode:
        """Check and consume a code (RFC 6749 §4.1.3, RFC 7636 §4.6); single use."""
        if not verifier:
            raise InvalidRequest("code_verifier is required (PKCE)")
        if not _VERIFIER.match(verifier):
            raise InvalidGrant("code_verifier must be 43-128 unreserved characters (RFC 7636)")
        digest = _digest(code)
        with self._iam.store.transaction() as tx:
            row = tx.execute("SELECT * FROM auth_codes WHERE digest = ?", (digest,)).fetchone()
            if row is None:
                raise InvalidGrant("authorization code is invalid")
            # Checked before the code is spent: a wrong client or verifier must not burn
            # the legitimate client's code (RFC 6749 §4.1.3, RFC 7636 §4.6).
            if row["client_id"] != client_id:
                raise InvalidGrant("authorization code was issued to another client")
            if redirect_uri is not None and redirect_uri != row["redirect_uri"]:
                raise InvalidGrant("redirect_uri does not match the authorization request")
            if not hmac.compare_digest(s256(verifier), row["code_challenge"]):
                raise InvalidGrant("code_verifier does not match the code_challenge")
            if not row["used"]:
                tx.execute("UPDATE auth_codes SET used = 1 WHERE digest = ?", (digest,))
        if row["used"]:
            # RFC 6749 §4.1.2: a replayed code revokes the token the first use produced.
            if row["issued_jti"]:
                self._iam.revocations.revoke_jti(row["issued_jti"], "authorization code replayed")
            raise InvalidGrant("authorization code was already used; its token is revoked")
        if row["expires_at"] <= self._iam.clock.now():
            raise InvalidGrant("authorization code expired")
        return AuthCode(
            client_id=row["client_id"],
            redirect_uri=row["redirect_uri"],
            user_id=row["user_id"],
            scopes=parse_scope(row["scopes"]),
            requested_actor=row["requested_actor"],
            resource=row["resource"],
            authorization_details=tuple(json.loads(row["authorization_details"])),
            digest=digest,
        )

    def note_issued(self, code: AuthCode, jti: str) -> None:
        """Remember the token a code produced, so that a replay of the code revokes it."""
        self._iam.store.execute(
            "UPDATE auth_codes SET issued_jti = ? WHERE digest = ?", (jti, code.digest)
        )
