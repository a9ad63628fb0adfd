"""Exchanges are bounded by the authorization behind their subject token (hypothesis).

Random sequences of tasks, each one authorization in which alice consents to some booking
scopes for the booking assistant: consents pile up across tasks, yet an exchange of any
task's token stays within that token's own scope (RFC 8693 §2.1; docs/design.md, delegation
rules) — never the union of the standing consents.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agent_iam import token_flows
from agents.oauth import OAuthClientError, decode_unverified
from iam_core.clock import ManualClock
from iam_core.iam import IAMConfig
from iam_core.policy import parse_scope
from tests.property.support import START, served

BA = "booking-assistant"
BOOKING = ("booking:cancel", "booking:create", "booking:read")
tasks = st.lists(st.frozensets(st.sampled_from(BOOKING), min_size=1), min_size=1, max_size=4)
# No quotas: the examples run on a clock that does not move, and approve many tasks.
CONFIG = IAMConfig(agent_token_quota=None)


@settings(max_examples=25)
@given(tasks=tasks, data=st.data())
def test_an_exchanged_token_stays_within_its_subject_tokens_scope(
    tasks: list[frozenset[str]], data: st.DataObject
) -> None:
    with served(ManualClock(START), CONFIG) as (portal, dep):
        subjects = [
            portal.call(
                token_flows.obo_token, dep, "alice", BA, "hotel-web", " ".join(sorted(s)), None
            )
            for s in tasks
        ]
        subject = data.draw(st.sampled_from(subjects), label="subject")
        requested = data.draw(st.none() | st.frozensets(st.sampled_from(BOOKING), min_size=1))
        scope = " ".join(sorted(requested)) if requested else None
        try:
            exchanged = portal.call(
                token_flows.exchange_token, dep, subject["access_token"], BA, scope, None
            )
        except OAuthClientError as refused:
            error = refused.error
        else:
            granted = parse_scope(decode_unverified(exchanged["access_token"])["scope"])
            assert granted <= parse_scope(subject["scope"])
            return
        assert error == "invalid_scope"
