"""Key rotation reaches every process on the store, within a bound (iam_core/keys.py).

Two IAMs on one SQLite file stand for two workers of ``serve --workers 2`` (or a server and
``agent-iam admin keys rotate``). A shared :class:`ManualClock` moves time: no test waits.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from iam_core.clock import ManualClock
from iam_core.errors import TokenError
from iam_core.iam import IAM
from iam_core.keys import MISS_REFRESH, REFRESH_EVERY
from iam_core.tokens import TokenType
from scenarios.deployment import agent_keystore, build_iam

AGENT = "booking-assistant"
SCOPES = frozenset({"availability:read"})


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[IAM, IAM, ManualClock]]:
    clock = ManualClock(1_800_000_000.0)
    keystore = agent_keystore(in_memory=True)
    one, two = (build_iam(tmp_path / "iam.db", keystore=keystore, clock=clock) for _ in range(2))
    yield one, two, clock
    one.store.close()
    two.store.close()


def _mint(iam: IAM) -> str:
    audience = f"{iam.issuer}/hotel/availability"
    token, _ = iam.minter.mint(
        TokenType.AGENT, sub=AGENT, client_id=AGENT, audience=audience, scopes=SCOPES
    )
    return token


def _verifies(iam: IAM, token: str) -> bool:
    try:
        iam.verifier.verify(token, audience=None)
    except TokenError:
        return False
    return True


def _kid(token: str) -> str:
    import base64
    import json

    head = token.split(".")[0]
    return str(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))["kid"])


def test_a_rotation_at_one_worker_reaches_the_other_within_the_bound(
    pair: tuple[IAM, IAM, ManualClock],
) -> None:
    """After a rotation at one worker, the other signs with the new key once REFRESH_EVERY
    has passed, and each verifies the other's new tokens."""
    one, two, clock = pair
    assert one.keys.current_kid == two.keys.current_kid
    new_kid = one.keys.rotate()
    clock.advance(REFRESH_EVERY)
    assert two.keys.current_kid == new_kid
    from_two = _mint(two)
    assert _kid(from_two) == new_kid and _verifies(one, from_two)
    assert _verifies(two, _mint(one))
    assert new_kid in {k["kid"] for k in two.keys.jwks()["keys"]}


def test_a_key_of_another_algorithm_verifies_at_once_on_a_kid_miss(
    pair: tuple[IAM, IAM, ManualClock],
) -> None:
    """A new key the other worker has never seen (not among the keys published ahead) is
    looked up on the miss: the other's token verifies without waiting for the bound."""
    one, two, clock = pair
    new_kid = one.keys.rotate("RS256")
    token = _mint(one)
    assert _kid(token) == new_kid
    clock.advance(MISS_REFRESH + 0.001)  # (binary floats: 0.05 does not add exactly)
    assert _verifies(two, token)


def test_a_retired_key_is_refused_everywhere_once_its_retention_ends(
    pair: tuple[IAM, IAM, ManualClock],
) -> None:
    """Tokens of the retired key verify at both workers until the retention window closes,
    then at neither (refused for the key, not only for expiry)."""
    one, two, clock = pair
    old = _mint(two)
    old_kid = _kid(old)
    assert _verifies(one, old) and _verifies(two, old)
    one.keys.rotate()
    clock.advance(REFRESH_EVERY)
    assert _verifies(one, old) and _verifies(two, old)
    clock.advance(one.config.lifetimes.longest + one.config.leeway)
    for iam in (one, two):
        with pytest.raises(TokenError, match="unknown kid"):
            iam.verifier.verify(old, audience=None)
        assert old_kid not in {k["kid"] for k in iam.keys.jwks()["keys"]}


def test_a_rotation_at_a_stale_worker_builds_on_the_stored_keys(
    pair: tuple[IAM, IAM, ManualClock],
) -> None:
    """Two rotations in a row at different workers leave exactly one signer in the store."""
    one, two, clock = pair
    first = one.keys.rotate()
    second = two.keys.rotate()  # before two has refreshed: it must not resurrect a signer
    assert second != first
    clock.advance(REFRESH_EVERY)
    assert one.keys.current_kid == two.keys.current_kid == second
    signers = one.store.all(
        "SELECT kid FROM signing_keys WHERE retired_at IS NULL AND activated_at IS NOT NULL"
    )
    assert [row[0] for row in signers] == [second]
