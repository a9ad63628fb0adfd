"""Small helpers for IAM tests: decode without verifying, read audit entries."""

from __future__ import annotations

from typing import Any

from agents.oauth import decode_unverified
from iam_core.audit import AuditEntry
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
