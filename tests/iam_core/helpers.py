"""Small helpers for IAM tests: decode without verifying, read audit entries."""

from __future__ import annotations

from typing import Any

from agents.oauth import decode_unverified
from iam_core.audit import AuditEntry
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from scenarios.deployment import Deployment


def claims(response: dict[str, Any]) -> dict[str, Any]:
    return decode_unverified(response["access_token"])


def audit(dep: Deployment, event: str | None = None) -> list[AuditEntry]:
    assert dep.iam is not None
    return dep.iam.audit.query(event=event)


def last_refusal(dep: Deployment) -> AuditEntry:
    refused = audit(dep, "token.refused")
    assert refused, "the refusal was not audited"
    return refused[-1]


async def consented_code(
    dep: Deployment,
    scope: str,
    *,
    user: str = "alice",
    app: str = "hotel-web",
    actor: str | None = None,
    approve: bool = True,
) -> tuple[str, str]:
    """``user`` logs in to ``app`` and answers its consent page (for ``actor``, if named);
    returns the authorization code and its PKCE verifier."""
    return await dep.oauth.authorize(
        dep.app(app),
        user=user,
        password=DEMO_PASSWORDS[user],
        scope=scope,
        redirect_uri=REDIRECT_URIS[app],
        requested_actor=actor,
        approve=approve,
    )
