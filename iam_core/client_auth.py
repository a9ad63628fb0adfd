"""Client authentication at the token, introspection and revocation endpoints.

* ``client_secret_basic`` (RFC 6749 §2.3.1) for confidential apps;
* ``private_key_jwt`` (RFC 7523 §2.2 and §3; OpenID Connect Core §9) for agents and any app
  registered with public keys: ``iss`` = ``sub`` = client_id; ``aud`` names the issuer, the
  token endpoint or the endpoint called (RFC 7523 §3 item 3); ``exp`` at most
  ``assertion_max_lifetime`` (an hour) after ``iat`` and after now; ``iat`` and ``nbf`` not
  in the future beyond the leeway; a ``jti`` accepted once, remembered in the store until
  the assertion's ``exp`` (item 7) so that no replay is possible while it could be valid;
* ``none`` for public clients, whose code redemption PKCE protects (RFC 7636).

A request that uses more than one method is refused (RFC 6749 §2.3).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote_plus

from iam_core.errors import InvalidClient, InvalidRequest, TokenError
from iam_core.iam import IAM
from iam_core.keys import VerificationKey, verification_key_from_jwk
from iam_core.registry import (
    GRANT_CIBA,
    GRANT_CLIENT_CREDENTIALS,
    GRANT_TOKEN_EXCHANGE,
    Agent,
    App,
)
from iam_core.tokens import CompactJWS, parse_compact

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
MAX_ASSERTION_LENGTH = 8192
PRUNE_EVERY = 256

SCHEMA = """
CREATE TABLE IF NOT EXISTS assertion_jtis (
    client_id TEXT NOT NULL, jti TEXT NOT NULL, exp INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX IF NOT EXISTS assertion_jtis_exp ON assertion_jtis (exp);
"""


@dataclass(frozen=True, slots=True)
class Client:
    """An authenticated (or, for public clients, identified) OAuth client."""

    id: str
    kind: Literal["agent", "app"]
    method: Literal["none", "client_secret_basic", "private_key_jwt"]
    grant_types: frozenset[str]
    agent: Agent | None = None
    app: App | None = None


AGENT_GRANTS = frozenset({GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE, GRANT_CIBA})


class ClientAuthenticator:
    def __init__(self, iam: IAM, token_endpoint: str) -> None:
        self._iam = iam
        self._audiences = {iam.issuer, iam.issuer + "/", token_endpoint}
        self._key_cache: dict[str, tuple[str, list[VerificationKey]]] = {}
        self._accepted = 0
        iam.store.ensure_schema(SCHEMA)

    def reset_state(self) -> None:
        """Forget the clients' keys read from the registry, which was restored."""
        self._key_cache.clear()
        self._accepted = 0

    def authenticate(
        self, form: Mapping[str, str], authorization: str | None, endpoint: str | None = None
    ) -> Client:
        """Authenticate the client of a request; raises InvalidClient (401) or InvalidRequest.

        ``endpoint`` is the URL of the endpoint called (the token endpoint if None): an
        assertion may name it as its audience (RFC 7523 §3 item 3).
        """
        basic = authorization is not None and authorization[:6].lower() == "basic "
        assertion = form.get("client_assertion")
        if basic and assertion:
            raise InvalidRequest("use one client authentication method, not several")
        if "client_secret" in form:
            raise InvalidClient("client_secret_post is not supported; use client_secret_basic")
        if basic:
            assert authorization is not None
            return self._basic(authorization[6:], form.get("client_id"))
        if assertion is not None:
            return self._assertion(assertion, form, endpoint)
        client_id = form.get("client_id")
        if not client_id:
            # RFC 6749 §5.2: say what was missing, so that a caller can fix its request.
            raise InvalidClient(
                "client authentication is required: send Basic credentials "
                "(client_secret_basic), a client_assertion (private_key_jwt) or, "
                "for a public client, its client_id"
            )
        app = self._iam.registry.get_app(client_id)
        if app is None:
            raise InvalidClient(f"unknown client {client_id[:64]!r}")
        if not app.active:
            raise InvalidClient(f"client {client_id[:64]!r} is disabled")
        if app.auth_method != "none":
            raise InvalidClient(f"client {client_id[:64]!r} must authenticate ({app.auth_method})")
        return Client(app.id, "app", "none", app.grant_types, app=app)

    def _basic(self, credentials: str, form_client_id: str | None) -> Client:
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
            raw_id, raw_secret = decoded.split(":", 1)
        except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
            raise InvalidClient("malformed Basic credentials") from exc
        # RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
        client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        if form_client_id is not None and form_client_id != client_id:
            raise InvalidRequest("client_id does not match the authenticated client")
        app = self._iam.registry.check_secret(client_id, secret)
        if app is None or app.auth_method != "client_secret_basic":
            raise InvalidClient("client authentication failed")
        return Client(app.id, "app", "client_secret_basic", app.grant_types, app=app)

    def _assertion(self, assertion: str, form: Mapping[str, str], endpoint: str | None) -> Client:
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise InvalidClient(f"client_assertion_type must be {ASSERTION_TYPE}")
        try:
            jws = parse_compact(assertion, MAX_ASSERTION_LENGTH)
        except TokenError as exc:
            raise InvalidClient(f"client_assertion is not a valid JWT: {exc}") from exc
        client_id = jws.claims.get("iss")
        if not isinstance(client_id, str) or not client_id:
            raise InvalidClient("client_assertion has no iss")
        if form.get("client_id") not in (None, client_id):
            raise InvalidClient("client_id does not match the assertion's iss")
        client, keys = self._keyed_client(client_id)
        exp = self._verify_assertion(jws, keys, client_id, endpoint)
        self._accept_once(client_id, str(jws.claims["jti"]), exp)
        return client

    def _keyed_client(self, client_id: str) -> tuple[Client, list[VerificationKey]]:
        agent = self._iam.registry.get_agent(client_id)
        if agent is not None:
            if not agent.active:
                raise InvalidClient(f"agent {client_id} is blocked")
            client = Client(agent.id, "agent", "private_key_jwt", AGENT_GRANTS, agent=agent)
            return client, self._keys(client_id, agent.jwks)
        raise InvalidClient(f"client {client_id[:64]!r} is not registered for private_key_jwt")

    def _keys(self, client_id: str, jwks: tuple[dict[str, object], ...]) -> list[VerificationKey]:
        """Parsed public keys, cached until the registered key set changes."""
        fingerprint = repr(jwks)
        cached = self._key_cache.get(client_id)
        if cached and cached[0] == fingerprint:
            return cached[1]
        keys = [verification_key_from_jwk(dict(jwk)) for jwk in jwks]
        self._key_cache[client_id] = (fingerprint, keys)
        return keys

    def _verify_assertion(
        self, jws: CompactJWS, keys: list[VerificationKey], client_id: str, endpoint: str | None
    ) -> int:
        """RFC 7523 §3 checks; returns the assertion's ``exp``."""
        kid = jws.header.get("kid")
        candidates = [k for k in keys if kid is None or k.kid == kid]
        if not candidates:
            raise InvalidClient("client_assertion kid is not among the client's registered keys")
        for key in candidates:
            try:
                jws.verify_with(key)
                break
            except TokenError:
                continue
        else:
            raise InvalidClient(
                "client_assertion signature or algorithm is not valid for this client"
            )
        claims = jws.claims
        for name in ("sub", "aud", "exp", "jti"):
            if name not in claims:
                raise InvalidClient(f"client_assertion lacks the {name} claim")
        if claims["sub"] != client_id:
            raise InvalidClient("client_assertion sub must equal iss (the client_id)")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        accepted = self._audiences | ({endpoint} if endpoint else set())
        if not any(isinstance(a, str) and a in accepted for a in audiences):
            raise InvalidClient(
                "client_assertion aud must be the issuer, the token endpoint or this endpoint"
            )
        self._check_times(claims)
        if not isinstance(claims["jti"], str) or not claims["jti"]:
            raise InvalidClient("client_assertion jti must be a non-empty string")
        return int(claims["exp"])

    def _check_times(self, claims: Mapping[str, object]) -> None:
        """RFC 7523 §3 items 4-6: not expired, not yet to come, and not too long-lived.

        ``iat`` and ``nbf`` may lie ahead of our clock by the leeway only; ``exp`` may lie up
        to ``assertion_max_lifetime`` after ``iat`` (or after now, without ``iat``).
        """
        now, leeway = self._iam.clock.now(), self._iam.config.leeway
        longest = self._iam.config.assertion_max_lifetime
        times: dict[str, float] = {}
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if value is None and name != "exp":
                continue
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise InvalidClient(f"client_assertion {name} must be a number")
            times[name] = value
        if times["exp"] <= now - leeway:
            raise InvalidClient("client_assertion expired")
        for name in ("iat", "nbf"):
            if times.get(name, now) > now + leeway:
                raise InvalidClient(f"client_assertion {name} is in the future")
        issued = times.get("iat", now)
        if times["exp"] - issued > longest or times["exp"] > now + longest + leeway:
            raise InvalidClient(
                f"client_assertion lives too long; keep exp within {longest} s of iat"
            )

    def _accept_once(self, client_id: str, jti: str, exp: int) -> None:
        """RFC 7523 §3 item 7: a jti is accepted once while its assertion could be valid."""
        with self._iam.store.transaction() as tx:
            cur = tx.execute(
                "INSERT OR IGNORE INTO assertion_jtis VALUES (?, ?, ?)", (client_id, jti, exp)
            )
            if cur.rowcount == 0:
                raise InvalidClient("client_assertion jti was used before (replay)")
            self._accepted += 1
            if self._accepted % PRUNE_EVERY == 0:  # forget expired jtis now and then
                tx.execute(
                    "DELETE FROM assertion_jtis WHERE exp < ?",
                    (int(self._iam.clock.now()) - self._iam.config.leeway - 60,),
                )
