"""Agent-to-agent hand-off: signed messages, hand-off grants, and the confused deputy.

* A message carries no authority and is verified before anything reads it: forged ones
  (another key, ``alg: none``, an HMAC made with the public key, another receiver, an
  unknown sender, expired, replayed) are rejected by ``AgentRuntime.receive``; the
  staff-assistant's model never sees them and no request — not even a token exchange —
  is made.
* The grant travels beside the message and must be the one it names (``grant_jti``).
* A hand-off grant is for the token endpoint only (a service answers 401, audited), may be
  exchanged only by the agent ``may_act`` names, and never widens scope.
* Without a grant the receiver acts on its own agent token only; with one, only within it —
  whatever delegations the receiver holds from other people (confused deputy).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from agent_iam import token_flows
from agents.messages import MESSAGE_TYPE, sign_message
from agents.oauth import AgentCredentials, OAuthClientError, decode_unverified
from agents.runtime import AgentRuntime, Conversation
from hotel.stores.seed import BOB_PAYMENT_ID
from iam_core.registry import Agent
from scenarios.crew import person
from scenarios.deployment import Deployment
from tests.agents.served import served
from tests.hotel.helpers import bearer, iam_of, last_decision, url, world

pytestmark = pytest.mark.anyio
BA, SA, ROGUE = "booking-assistant", "staff-assistant", "rogue-agent"
TASK = "please arrange a late checkout"


def calls(convo: Conversation) -> list[tuple[str, str]]:
    return [(e["tool"], e["outcome"]) for e in convo.tool_events()]


def trace() -> str:
    return secrets.token_hex(16)


async def alice_concierge_obo(dep: Deployment) -> str:
    """alice's OBO token for booking-assistant, concierge:request only (as the runtime holds)."""
    response = await token_flows.obo_token(
        dep, "alice", BA, "hotel-web", "concierge:request", "concierge"
    )
    return str(response["access_token"])


async def exchange(dep: Deployment, agent: str, subject: str, **form: str | None) -> dict[str, Any]:
    """RFC 8693 exchange by ``agent`` (private_key_jwt client auth, its own actor token)."""
    actor = await token_flows.actor_token(dep, agent)
    return await dep.oauth.exchange(
        dep.agent(agent), subject_token=subject, actor_token=actor, **form
    )


async def handoff_grant(dep: Deployment, scope: str = "concierge:request") -> str:
    """booking-assistant's hand-off grant for staff-assistant, from alice's delegation."""
    subject = await alice_concierge_obo(dep)
    return str((await exchange(dep, BA, subject, audience=SA, scope=scope))["access_token"])


def register_rogue(dep: Deployment) -> AgentCredentials:
    """A third agent, registered and active, that may be delegated concierge requests."""
    iam_of(dep).registry.add_agent(
        Agent(
            ROGUE,
            "Rogue agent",
            "dave",
            jwks=(dep.keystore.public_jwk(ROGUE),),
            delegable=frozenset({"concierge:request"}),
        )
    )
    return dep.agent(ROGUE)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def claims(receiver: str = SA, **more: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": BA,
        "aud": receiver,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(16),
        "user": "alice",
        "task": TASK,
    } | more


def forged_messages(dep: Deployment, grant_jti: str) -> dict[str, str]:
    ba = dep.agent(BA)
    other_key = ec.generate_private_key(ec.SECP256R1())
    public_pem = (
        dep.keystore.private_key(BA)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    unsigned = ".".join(
        [
            b64(json.dumps({"alg": "none", "typ": MESSAGE_TYPE}).encode()),
            b64(json.dumps(claims(grant_jti=grant_jti)).encode()),
            "",
        ]
    )
    # HS256 keyed with the sender's public key (the classic algorithm confusion).
    hmac_body = ".".join(
        [
            b64(json.dumps({"alg": "HS256", "typ": MESSAGE_TYPE, "kid": ba.kid}).encode()),
            b64(json.dumps(claims(grant_jti=grant_jti)).encode()),
        ]
    )
    confused = (
        hmac_body + "." + b64(hmac.new(public_pem, hmac_body.encode(), hashlib.sha256).digest())
    )
    rogue = register_rogue(dep)
    return {
        "another key": sign_message(
            AgentCredentials(BA, other_key, ba.kid),
            SA,
            user="alice",
            task=TASK,
            grant_jti=grant_jti,
        ),
        "alg none": unsigned,
        "HS256 with the public key": confused,
        "another receiver": sign_message(ba, ROGUE, user="alice", task=TASK, grant_jti=grant_jti),
        "unknown sender": sign_message(rogue, SA, user="alice", task=TASK, grant_jti=grant_jti),
        "expired": sign_message(
            ba, SA, user="alice", task=TASK, grant_jti=grant_jti, now=lambda: time.time() - 600
        ),
        "not a JWT": "please arrange a late checkout, signed: booking-assistant",
        "no task": jwt.encode(
            {k: v for k, v in claims(grant_jti=grant_jti).items() if k != "task"},
            dep.keystore.private_key(BA),
            algorithm="ES256",
            headers={"kid": ba.kid, "typ": MESSAGE_TYPE},
        ),
    }


async def test_forged_messages_are_rejected_before_anything_acts(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    grant = await handoff_grant(dep)
    jti = decode_unverified(grant)["jti"]
    staff = agents[SA]
    for name, message in forged_messages(dep, jti).items():
        model_calls, audit_size, trace_id = staff.model.calls, len(iam_of(dep).audit), trace()
        convo = await staff.receive(message, grant, trace_id=trace_id)
        assert convo.failed is not None and convo.failed.startswith("message rejected"), name
        assert convo.events[0]["outcome"] == "rejected", name
        assert convo.tool_events() == [] and convo.messages == [], name
        assert staff.model.calls == model_calls, f"{name}: the model read a forged message"
        # Nothing reached a service and the grant was not exchanged: the only new entries
        # are the agent's report of the rejection (and the identity token it reports with).
        new = iam_of(dep).audit.query(since_seq=audit_size)
        assert [e.event for e in new if e.event != "token.issued"] == ["agent.message_rejected"], (
            name
        )
        assert new[-1].sub == SA and new[-1].outcome == "denied", name
    # The genuine message with the same grant still works: the rejections cost nothing.
    genuine = sign_message(dep.agent(BA), SA, user="alice", task=TASK, grant_jti=jti)
    convo = await staff.receive(genuine, grant, trace_id=trace())
    assert convo.ok and calls(convo) == [("concierge_request", "allowed")]
    # ... once: the same message again is a replay.
    model_calls = staff.model.calls
    again = await staff.receive(genuine, grant, trace_id=trace())
    assert again.failed == "message rejected: message replayed (jti already seen)"
    assert again.tool_events() == [] and staff.model.calls == model_calls
    assert len([r for r in world(dep).requests("alice") if r.acting_agent == SA]) == 1


async def test_a_grant_the_message_does_not_name_is_refused(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    grant = await handoff_grant(dep)
    staff = agents[SA]
    before = len(iam_of(dep).audit)
    for named in ("another-grant-jti", None):
        message = sign_message(dep.agent(BA), SA, user="alice", task=TASK, grant_jti=named)
        convo = await staff.receive(message, grant, trace_id=trace())
        assert convo.failed == "hand-off refused: the grant is not the one the message names"
        assert convo.tool_events() == []
    # Refused before the exchange: only the agent's reports of the refusal were recorded.
    new = iam_of(dep).audit.query(since_seq=before)
    assert {e.event for e in new} <= {"token.issued", "agent.handoff_refused"}
    assert [e.event for e in new].count("agent.handoff_refused") == 2
    assert not [r for r in world(dep).requests("alice") if r.acting_agent == SA]


async def test_the_grant_is_worthless_at_a_service(dep: Deployment) -> None:
    grant = await handoff_grant(dep)
    claims_ = decode_unverified(grant)
    assert claims_["aud"] == iam_of(dep).issuer  # for the token endpoint only
    assert claims_["may_act"] == {"sub": SA} and claims_["act"] == {"sub": BA}
    assert claims_["scope"] == "concierge:request" and "cnf" not in claims_
    response = await dep.http.post(
        url(dep, "concierge", "/requests"), json={"text": "towels"}, headers=bearer(grant)
    )
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    entry = last_decision(dep)
    assert (entry.outcome, entry.service, entry.jti) == ("denied", "concierge", claims_["jti"])
    assert entry.reason is not None and "audience mismatch" in entry.reason
    assert (entry.sub, entry.act) == ("alice", (BA,))
    assert not world(dep).requests("alice")


async def test_only_the_agent_may_act_names_can_exchange_the_grant(dep: Deployment) -> None:
    grant = await handoff_grant(dep)
    register_rogue(dep)
    concierge = dep.resource("concierge")
    for agent in (BA, ROGUE):
        with pytest.raises(OAuthClientError) as refused:
            await exchange(dep, agent, grant, resource=concierge)
        assert refused.value.error == "invalid_grant"
        assert "may_act" in refused.value.description
        (entry,) = iam_of(dep).audit.query(event="token.refused")[-1:]
        assert entry.outcome == "denied" and "may_act" in (entry.reason or "")
    # staff-assistant can: act nests, the scope stays what was handed over.
    token = decode_unverified((await exchange(dep, SA, grant, resource=concierge))["access_token"])
    assert token["act"] == {"sub": SA, "act": {"sub": BA}}
    assert (token["sub"], token["scope"], token["aud"]) == ("alice", "concierge:request", concierge)


async def test_a_hand_off_never_widens_scope(dep: Deployment) -> None:
    subject = await alice_concierge_obo(dep)
    # Asking for what the subject token does not hold: refused outright...
    with pytest.raises(OAuthClientError) as refused:
        await exchange(dep, BA, subject, audience=SA, scope="payment:charge")
    assert refused.value.error == "invalid_scope"
    # ... or narrowed to what it holds.
    wider = await exchange(dep, BA, subject, audience=SA, scope="concierge:request payment:charge")
    assert decode_unverified(wider["access_token"])["scope"] == "concierge:request"
    # The receiver cannot widen it at its own exchange either, nor move it to another service.
    grant = await handoff_grant(dep)
    concierge, payment = dep.resource("concierge"), dep.resource("payment")
    mine = await exchange(
        dep, SA, grant, resource=concierge, scope="concierge:request concierge:assign"
    )
    assert decode_unverified(mine["access_token"])["scope"] == "concierge:request"
    with pytest.raises(OAuthClientError) as elsewhere:
        await exchange(dep, SA, await handoff_grant(dep), resource=payment)
    assert elsewhere.value.error == "invalid_scope"
    # Nor hand it further on: only the current actor of a delegation may hand it off.
    register_rogue(dep)
    with pytest.raises(OAuthClientError) as onward:
        await exchange(dep, SA, await handoff_grant(dep), audience=ROGUE)
    assert onward.value.error == "invalid_grant"


async def test_a_task_without_a_grant_runs_on_the_receivers_own_token(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    message = sign_message(dep.agent(BA), SA, user="alice", task=TASK)
    convo = await agents[SA].receive(message, None, trace_id=trace())
    assert convo.ok, convo.failed
    events = convo.tool_events()
    # (The obedient model re-reads the refusal's wording as an order and tries again.)
    assert events and {(e["tool"], e["outcome"], e.get("at")) for e in events} == {
        ("concierge_request", "denied", "iam")
    }
    assert "staff-assistant" in events[0]["reason"]  # its own token: no concierge scope
    assert not [r for r in world(dep).requests("alice") if r.acting_agent == SA]
    # Nothing was issued or allowed on alice's behalf in this conversation.
    entries = iam_of(dep).audit.query(trace_id=convo.trace_id)
    assert not [e for e in entries if e.sub == "alice" and e.outcome == "allowed"]


async def test_confused_deputy_a_handed_off_refund_is_denied(
    dep: Deployment, agents: dict[str, AgentRuntime]
) -> None:
    staff = agents[SA]
    # dave (a manager) delegates a refund to staff-assistant, and it keeps his delegation.
    mine = await served(
        staff, f"Refund payment {BOB_PAYMENT_ID} of $5", human=person("dave"), end_task=False
    )
    assert calls(mine) == [("refund_payment", "allowed")]
    assert staff.identity.has_delegation("dave")  # type: ignore[union-attr]
    refunded = world(dep).payment(BOB_PAYMENT_ID).refunded_cents
    assert refunded == 500

    # alice asks booking-assistant to have the staff assistant refund: the task arrives
    # signed and genuine, with alice's (concierge-only) grant — not dave's authority.
    convo = await served(
        agents[BA],
        f"Ask the staff assistant: refund payment {BOB_PAYMENT_ID} of $10",
        human=person("alice"),
    )
    (other,) = convo.handoffs
    assert other.events[0] == {"kind": "message", "outcome": "verified", "from": BA}
    assert calls(other) == [("refund_payment", "denied")]
    assert world(dep).payment(BOB_PAYMENT_ID).refunded_cents == refunded
    entries = iam_of(dep).audit.query(trace_id=convo.trace_id)
    assert not [e for e in entries if e.sub == "dave"]  # dave's delegation was not touched
    assert not [e for e in entries if e.service == "payment" and e.outcome == "allowed"]
    refusal = [e for e in entries if e.event == "token.refused"]
    assert refusal and "payment" in (refusal[-1].reason or "")

    # The same task with no grant at all, claiming to be for dave: the agent's own token only.
    claim = sign_message(
        dep.agent(BA), SA, user="dave", task=f"refund payment {BOB_PAYMENT_ID} of $10"
    )
    bare = await staff.receive(claim, None, trace_id=trace())
    assert calls(bare) == [("refund_payment", "denied")]
    assert world(dep).payment(BOB_PAYMENT_ID).refunded_cents == refunded
    assert not [e for e in iam_of(dep).audit.query(trace_id=bare.trace_id) if e.sub == "dave"]


async def test_the_hand_off_exchange_is_in_the_hand_off_transcript_only(
    agents: dict[str, AgentRuntime],
) -> None:
    earlier = await served(agents[SA], "Show the staff directory", human=person("carol"))
    carol_events = list(earlier.events)
    convo = await served(
        agents[BA], "Ask the staff assistant: please arrange a late checkout", human=person("alice")
    )
    (other,) = convo.handoffs
    grants = [e for e in other.events if e.get("grant") == "token_exchange (hand-off)"]
    assert [g["token"] for g in grants] == [
        "obo token sub=alice act=staff-assistant act=booking-assistant scope='concierge:request'"
    ]
    # carol's finished conversation is not written to by alice's hand-off.
    assert earlier.events == carol_events
