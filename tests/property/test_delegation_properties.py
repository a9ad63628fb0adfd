"""Delegation rules hold for all inputs (hypothesis): pure policy and the real token endpoint."""

from __future__ import annotations

import asyncio

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_iam import token_flows
from agents.oauth import OAuthClientError, decode_unverified
from iam_core.policy import DEFAULT_ROLE_SCOPES, SCOPES, Policy, act_chain, nest_act
from iam_core.registry import Agent
from scenarios.deployment import Deployment, deployment

ALL = sorted(SCOPES)
scope_sets = st.frozensets(st.sampled_from(ALL))
roles = st.lists(st.sampled_from([*DEFAULT_ROLE_SCOPES, "unknown-role"]), max_size=3)
AGENT_IDS = [f"agent-{n}" for n in range(4)]


@given(requested=scope_sets, user_roles=roles, delegable=scope_sets, consented=scope_sets)
def test_obo_scope_is_within_user_agent_and_consent(
    requested: frozenset[str],
    user_roles: list[str],
    delegable: frozenset[str],
    consented: frozenset[str],
) -> None:
    """OBO scope ⊆ requested ∩ user's ∩ agent's delegable ∩ consented."""
    policy = Policy()
    granted = policy.obo_scope(
        requested, user_roles=user_roles, agent_delegable=delegable, consented=consented
    )
    assert granted <= requested and granted <= delegable and granted <= consented
    assert granted <= policy.user_scopes(user_roles)


@given(requested=scope_sets, subject=scope_sets, delegable=scope_sets)
def test_a_hop_never_widens(
    requested: frozenset[str], subject: frozenset[str], delegable: frozenset[str]
) -> None:
    """A further hop's scope ⊆ the subject token's scope and the new actor's delegable."""
    granted = Policy().hop_scope(requested, subject_scope=subject, actor_delegable=delegable)
    assert granted <= subject and granted <= delegable and granted <= requested


@given(
    chain=st.lists(st.text(min_size=1, max_size=8), max_size=8),
    depth=st.integers(min_value=1, max_value=6),
)
def test_depth_is_bounded_by_the_maximum(chain: list[str], depth: int) -> None:
    """depth_allowed accepts exactly the chains of at most max_delegation_depth actors."""
    act = None
    for actor in chain:
        act = nest_act(act, actor)
    assert act_chain(act) == tuple(reversed(chain))
    assert Policy(max_delegation_depth=depth).depth_allowed(act) == (len(chain) <= depth)


GUEST = sorted(DEFAULT_ROLE_SCOPES["guest"])


async def _register_agents(dep: Deployment, delegables: list[frozenset[str]]) -> None:
    assert dep.iam is not None
    for agent_id, delegable in zip(AGENT_IDS, delegables, strict=False):
        dep.iam.registry.add_agent(
            Agent(
                agent_id,
                agent_id,
                "dave",
                jwks=(dep.keystore.public_jwk(agent_id),),
                delegable=delegable,
            )
        )


# Each example builds a whole deployment: a quarter of the profile's examples.
@settings(max_examples=max(10, settings.default.max_examples // 4))
@given(
    consented=st.frozensets(st.sampled_from(GUEST), min_size=1),
    delegables=st.lists(scope_sets, min_size=4, max_size=4),
    hops=st.lists(st.tuples(st.sampled_from(AGENT_IDS), scope_sets), max_size=4),
)
def test_real_exchanges_narrow_at_every_hop_and_stop_at_the_depth(
    consented: frozenset[str],
    delegables: list[frozenset[str]],
    hops: list[tuple[str, frozenset[str]]],
) -> None:
    """Through the real token endpoint: every issued scope ⊆ the previous token's, every
    chain ≤ 3 actors, and everything ⊆ alice's consent."""

    async def run() -> None:
        async with deployment(in_memory=True) as dep:
            await _register_agents(dep, delegables)
            first = await token_flows.obo_token(
                dep,
                "alice",
                "booking-assistant",
                "hotel-web",
                " ".join(sorted(consented)),
                "booking" if any(s.startswith("booking") for s in consented) else None,
            )
            token = first["access_token"]
            previous = set(decode_unverified(token)["scope"].split())
            assert previous <= consented
            for agent_id, requested in hops:
                try:
                    response = await token_flows.exchange_token(
                        dep, token, agent_id, " ".join(sorted(requested)) or None, None
                    )
                except OAuthClientError as exc:
                    assert exc.error in ("invalid_grant", "invalid_scope", "invalid_target")  # noqa: PT017
                    continue
                claims = decode_unverified(response["access_token"])
                scopes = set(claims["scope"].split())
                assert scopes <= previous and scopes <= consented
                assert len(act_chain(claims["act"])) <= 3
                token, previous = response["access_token"], scopes

    asyncio.run(run())
