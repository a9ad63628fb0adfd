"""Disabling an app (``IAM.set_app_active``): a service account or a front door that is no
longer trusted authenticates nowhere, and every live token issued to it is revoked, for
good — the app counterpart of blocking an agent (docs/design.md §3.2)."""

from __future__ import annotations

import pytest

from agents.front_door import FRONT_DOOR
from agents.oauth import OAuthClientError, decode_unverified
from scenarios.deployment import Deployment
from tests.iam_core.helpers import audit, open_task

pytestmark = pytest.mark.anyio
BA = "booking-assistant"


def claims_jti(token: str) -> str:
    return str(decode_unverified(token)["jti"])


async def test_a_disabled_app_gets_no_token_and_its_tokens_are_revoked(dep: Deployment) -> None:
    assert dep.iam is not None
    task = await open_task(dep, BA)  # a token issued to the front door
    assert dep.iam.set_app_active(FRONT_DOOR, False, by="iam-admin") >= 1
    assert dep.iam.revocations.reason_revoked(claims_jti(task)) == "client disabled"
    with pytest.raises(OAuthClientError) as refused:
        await open_task(dep, BA)
    assert refused.value.error == "invalid_client"
    (entry,) = [e for e in audit(dep) if e.event == "app.disabled"]
    assert entry.object_id == FRONT_DOOR and entry.sub == "iam-admin"


async def test_re_enabling_an_app_revives_none_of_its_tokens(dep: Deployment) -> None:
    assert dep.iam is not None
    task = await open_task(dep, BA)
    dep.iam.set_app_active(FRONT_DOOR, False, by="iam-admin")
    dep.iam.set_app_active(FRONT_DOOR, True, by="iam-admin")
    assert dep.iam.revocations.reason_revoked(claims_jti(task)) == "client disabled"
    with pytest.raises(OAuthClientError) as refused:  # the task died with the app
        await dep.oauth.agent_token(
            dep.agent(BA),
            scope="availability:read",
            resource=dep.resource("availability"),
            task=task,
        )
    assert refused.value.error == "invalid_grant"
    await open_task(dep, BA)  # a new token for the re-enabled app


async def test_disabling_an_unknown_app_is_a_key_error(dep: Deployment) -> None:
    assert dep.iam is not None
    with pytest.raises(KeyError):
        dep.iam.set_app_active("no-such-app", False, by="iam-admin")


async def test_disabling_a_front_door_ends_its_tasks_and_what_was_issued_within(
    dep: Deployment,
) -> None:
    """A front door whose secret leaked is disabled: its task tokens are revoked, and so is
    every token an agent got within those tasks (they name the task, not the app)."""
    assert dep.iam is not None
    task = await open_task(dep, BA)
    own = await dep.oauth.agent_token(
        dep.agent(BA), scope="availability:read", resource=dep.resource("availability"), task=task
    )
    assert dep.iam.set_app_active(FRONT_DOOR, False, by="iam-admin") == 2
    jti = claims_jti(str(own["access_token"]))
    assert dep.iam.revocations.reason_revoked(jti) == "client disabled"
