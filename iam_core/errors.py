"""Errors of the IAM core.

Every error that reaches a client carries its wire code and HTTP status, as in authlib::

    IAMError
    ├── OAuthError                 error, status, description     (RFC 6749 §5.2)
    │   ├── BearerError            builds its WWW-Authenticate    (RFC 6750 §3)
    │   │   ├── InvalidRequest     invalid_request         400
    │   │   ├── CredentialsRequired invalid_request        401   (§3.1: no error code)
    │   │   ├── InvalidToken       invalid_token           401
    │   │   ├── InsufficientScope  insufficient_scope      403
    │   │   ├── TemporarilyUnavailable temporarily_unavailable 429 (quotas)
    │   │   └── DPoPNonceChallenge use_dpop_nonce          401   (RFC 9449 §9)
    │   ├── InvalidClient          invalid_client          401
    │   ├── InvalidGrant           invalid_grant           400
    │   ├── UnauthorizedClient     unauthorized_client     400
    │   ├── UnsupportedGrantType   unsupported_grant_type  400
    │   ├── InvalidScope           invalid_scope           400
    │   ├── InvalidTarget          invalid_target          400   (RFC 8707 §2)
    │   ├── InvalidDPoPProof       invalid_dpop_proof      400   (RFC 9449 §5)
    │   └── UseDPoPNonce           use_dpop_nonce          400   (RFC 9449 §8)
    ├── TokenError                 a JWT failed verification (reason in ``str(e)``)
    └── ScimError                  status, scim_type, detail      (RFC 7644 §3.12)
"""

from __future__ import annotations

from typing import Any


def description_text(text: str, limit: int = 300) -> str:
    """``text`` within the characters RFC 6749 §5.2 / RFC 6750 §3 allow in error_description.

    (%x20-21 / %x23-5B / %x5D-7E: printable ASCII without ``"`` and ``\\``.) Anything else —
    such as text an attacker put in a token header — becomes ``?``, so that it can never
    break a ``WWW-Authenticate`` header or a response.
    """
    return "".join(c if (" " <= c <= "~" and c not in '"\\') else "?" for c in text[:limit])


class IAMError(Exception):
    """Base of every error raised by ``iam_core``."""


class OAuthError(IAMError):
    """An OAuth error response (RFC 6749 §5.2); ``description`` is safe to show to clients."""

    error: str = "server_error"
    status: int = 400

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description
        # Set once the refusal is in the audit log, so that the HTTP layer records the rest.
        self.audited = False

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "error_description": description_text(self.description)}


class BearerError(OAuthError):
    """An RFC 6750 §3.1 error of a protected resource; it builds its own challenge.

    The one family every protected API raises — the hotel's guard, the IAM's SCIM and audit
    APIs — so that the ``WWW-Authenticate`` header is written in one place. ``scope`` names
    the scope the resource needs (§3: only with ``insufficient_scope``).
    """

    error = "invalid_request"
    status = 400
    # §3.1: with no credentials at all the challenge carries no error code.
    challenge_error = True

    def __init__(
        self, description: str, *, scope: str | None = None, realm: str | None = None
    ) -> None:
        super().__init__(description)
        self.scope = scope
        self.realm = realm

    def www_authenticate(self, scheme: str = "Bearer") -> str:
        """The ``WWW-Authenticate`` value for this error (RFC 6750 §3; RFC 9449 §7.1 for
        ``DPoP``); every value passes :func:`description_text`, so none can break the header."""
        parts = [f'realm="{description_text(self.realm)}"'] if self.realm else []
        if self.challenge_error:
            parts.append(f'error="{self.error}"')
            parts.append(f'error_description="{description_text(self.description)}"')
            if self.scope:
                parts.append(f'scope="{description_text(self.scope)}"')
        return f"{scheme} {', '.join(parts)}" if parts else scheme


class InvalidRequest(BearerError):
    error = "invalid_request"


class CredentialsRequired(BearerError):
    """No access token at all: 401 whose challenge names only the realm (RFC 6750 §3.1)."""

    error = "invalid_request"
    status = 401
    challenge_error = False


class InvalidToken(BearerError):
    error = "invalid_token"
    status = 401


class InsufficientScope(BearerError):
    error = "insufficient_scope"
    status = 403


class TemporarilyUnavailable(BearerError):
    """A quota is exhausted (RFC 6749 §4.1.2.1 ``temporarily_unavailable``, HTTP 429)."""

    error = "temporarily_unavailable"
    status = 429
    retry_after = 60  # RFC 6585 §4: the quota's window, at most


class DPoPNonceChallenge(BearerError):
    """RFC 9449 §9: a resource server wants a proof with its nonce; the response carries a
    fresh ``DPoP-Nonce`` header."""

    error = "use_dpop_nonce"
    status = 401


class InvalidClient(OAuthError):
    error = "invalid_client"
    status = 401


class InvalidGrant(OAuthError):
    error = "invalid_grant"


class UnauthorizedClient(OAuthError):
    error = "unauthorized_client"


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"


class InvalidScope(OAuthError):
    error = "invalid_scope"


class InvalidTarget(OAuthError):
    error = "invalid_target"


class InvalidDPoPProof(OAuthError):
    error = "invalid_dpop_proof"


class UseDPoPNonce(OAuthError):
    """RFC 9449 §8: the token endpoint wants a proof with its nonce (``DPoP-Nonce`` header)."""

    error = "use_dpop_nonce"


class TokenError(IAMError):
    """A JWT did not pass verification; the message names the failed check."""


class ScimError(IAMError):
    """A SCIM error response (RFC 7644 §3.12)."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
