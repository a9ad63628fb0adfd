"""Bugs the property tests found, kept as regression tests now that they are fixed.

Each test is the minimal example the generator shrank to.
"""

from __future__ import annotations

import pytest

from agent_iam import token_flows
from agents.oauth import OAuthClientError
from iam_core.clock import ManualClock
from iam_core.seed import DEMO_PASSWORDS, REDIRECT_URIS
from tests.hotel.helpers import BA, bearer, iam_of, url
from tests.property.support import START, served


def test_a_token_signed_after_two_quick_rotations_is_accepted() -> None:
    """Found while modelling the services' JWKS cache for test_deployment_machine (whose model
    now mirrors the rate limit, so that the machine checks the rest): the services
    fetched the JWKS (signer S0, next N1); two rotations make N2 the signer; N2 is unknown to
    them and the refetch is rate-limited, so a genuine, fresh token is refused 401."""
    clock = ManualClock(START)
    with served(clock) as (portal, dep):

        async def call(token: str) -> int:
            response = await dep.http.get(
                url(dep, "availability", "/hotels"), headers=bearer(token)
            )
            return response.status_code

        async def fresh() -> str:
            response = await token_flows.agent_token(dep, BA, "availability:read", "availability")
            return str(response["access_token"])

        assert portal.call(call, portal.call(fresh)) == 200  # the services fetch the JWKS
        portal.call(lambda: iam_of(dep).keys.rotate())
        portal.call(lambda: iam_of(dep).keys.rotate())
        clock.advance(1)
        assert portal.call(call, portal.call(fresh)) == 200


def test_a_refused_authorization_request_is_audited() -> None:
    """Found by test_deployment_machine (block booking-assistant, then alice's consent flow
    for it): /authorize answers with an error redirect and nothing is audited."""
    with served(ManualClock(START)) as (portal, dep):
        iam = iam_of(dep)
        portal.call(lambda: iam.block_agent(BA, by="test"))
        before = len(iam.audit)

        async def authorize() -> int:
            response = await dep.http.get(
                f"{dep.issuer}/authorize",
                params={
                    "response_type": "code",
                    "client_id": "hotel-web",
                    "redirect_uri": REDIRECT_URIS["hotel-web"],
                    "scope": "booking:read",
                    "state": "s",
                    "code_challenge": "x" * 43,
                    "code_challenge_method": "S256",
                    "requested_actor": BA,
                },
            )
            return response.status_code

        assert portal.call(authorize) in (302, 303)
        refused = [e for e in iam.audit.query(since_seq=before) if e.outcome == "denied"]
        assert refused, "the refused authorization request was not audited"


def test_the_client_reports_a_refused_authorization_request_as_an_oauth_error() -> None:
    """Found by test_deployment_machine, whose _authorize has to catch KeyError for it."""
    with served(ManualClock(START)) as (portal, dep):
        portal.call(lambda: iam_of(dep).block_agent(BA, by="test"))

        async def authorize() -> None:
            await dep.oauth.authorize(
                dep.app("hotel-web"),
                user="alice",
                password=DEMO_PASSWORDS["alice"],
                scope="booking:read",
                redirect_uri=REDIRECT_URIS["hotel-web"],
                requested_actor=BA,
            )

        with pytest.raises(OAuthClientError):
            portal.call(authorize)
