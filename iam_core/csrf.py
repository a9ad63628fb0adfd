"""Anti-CSRF for the IAM's HTML forms: login, consent, consent withdrawal.

Two defences, as the OWASP CSRF Prevention Cheat Sheet recommends together:

* A synchronizer token in every state-changing form: an HMAC-SHA256 of the form's purpose
  keyed with a secret cookie the page was served with — the session for signed-in forms,
  a *pre-session* cookie for the login form (login CSRF: the attacker's own credentials,
  posted from their page, must not sign the victim in). Another site can neither read the
  cookie (HttpOnly) nor the page, so it cannot compute the token; it is compared in
  constant time.
* Fetch metadata and ``Origin`` (cheat sheet, "Verifying Origin with standard headers" and
  "Fetch Metadata headers"): a request whose ``Sec-Fetch-Site`` is ``cross-site`` or
  ``same-site``, or whose ``Origin`` is not the IAM's own, is refused before its token is
  looked at. A request with neither header (a non-browser client, an old browser) is
  accepted on its token alone: the token is what binds it to the page it came from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from urllib.parse import urlsplit

from fastapi import Request, Response

PRESESSION_COOKIE = "iam_presession"
FIELD = "csrf"


def form_token(secret: str, purpose: str) -> str:
    """The token of the form for ``purpose`` ("login:<request id>", "withdraw", …)."""
    return hmac.new(secret.encode(), purpose.encode(), hashlib.sha256).hexdigest()


def token_ok(secret: str | None, purpose: str, given: str) -> bool:
    if not secret or not given:
        return False
    return hmac.compare_digest(given.encode(), form_token(secret, purpose).encode())


def presession(request: Request) -> tuple[str, bool]:
    """The pre-session secret of this browser, and whether it is new (to be set)."""
    found = request.cookies.get(PRESESSION_COOKIE, "")
    if 32 <= len(found) <= 64:
        return found, False
    return secrets.token_urlsafe(32), True


def set_presession(response: Response, value: str, request: Request) -> None:
    response.set_cookie(
        PRESESSION_COOKIE,
        value,
        httponly=True,
        samesite="lax",
        path="/",
        secure=request.url.scheme == "https",
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site(request: Request, issuer: str) -> str | None:
    """Why this request comes from another site, or None when it may be same-origin."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"Sec-Fetch-Site is {site[:32]}"
    origin = request.headers.get("origin")
    if origin is not None:
        own = {_origin(issuer), _origin(str(request.base_url))}
        if origin.lower() not in own:
            return f"Origin {origin[:100]} is not the IAM's"
    return None
