"""Retention: 50k cheap inserts through the store API leave the security tables bounded."""

from __future__ import annotations

from iam_core.clock import ManualClock
from iam_core.dpop import ReplayCache
from iam_core.iam import IAM
from iam_core.quota import Quota, QuotaSpec
from iam_core.registry import SIMULATION_HASHER
from iam_core.retention import prune_iam
from iam_core.revoked import RevokedTokens
from iam_core.store import Store
from iam_core.tokens import Token, TokenType

TOTAL = 50_000
STEP = 0.05  # seconds of simulated time per request: 50k requests span ~42 minutes


def _count(store: Store, table: str) -> int:
    row = store.one(f"SELECT COUNT(*) AS n FROM {table}")
    return int(row["n"]) if row else 0


def _token(jti: str, now: float) -> Token:
    iat = int(now)
    claims = {
        "jti": jti,
        "sub": "booking-assistant",
        "client_id": "booking-assistant",
        "iat": iat,
        "exp": iat + 300,
        "scope": "availability:read",
    }
    return Token(claims, TokenType.AGENT)


def test_security_tables_stay_bounded_and_the_audit_log_is_kept() -> None:
    clock = ManualClock(1_700_000_000.0)
    iam = IAM(Store(), clock=clock, hasher=SIMULATION_HASHER)
    store = iam.store
    quota = Quota(QuotaSpec(1_000_000, 60), clock, store=store, name="requests:test")
    replay = ReplayCache(clock, store=store, scope="test")
    revoked = RevokedTokens(clock, issuer=iam.issuer, audience="x", store=store)
    peaks: dict[str, int] = {}
    for n in range(TOTAL):
        clock.advance(STEP)
        jti = f"t{n}"
        iam.revocations.record_issued(_token(jti, clock.now()))
        assert quota.take(f"agent-{n % 7}") is None
        assert replay.first_use(jti, clock.now() + 120)
        if n % 10 == 0:
            iam.revocations.revoke_jti(jti, "test")
            revoked.receive_claims(
                {"events": {"x": {"revoked": [{"jti": jti, "exp": int(clock.now()) + 300}]}}}
            )
        if n % 1200 == 0:  # the background task's schedule: once a simulated minute
            prune_iam(iam)
            for table in (
                "issued_tokens",
                "revoked_tokens",
                "quota_events",
                "dpop_jtis",
                "received_revocations",
                "security_events",
            ):
                peaks[table] = max(peaks.get(table, 0), _count(store, table))
    # Bounded by the rate times how long each record matters, not by the 50k requests.
    assert peaks["issued_tokens"] < 13_000  # 300 s lifetime + 300 s margin + a minute
    assert peaks["revoked_tokens"] < 1_300
    assert peaks["quota_events"] < 2_500  # one 60 s window + a minute
    assert peaks["dpop_jtis"] < 4_000  # 120 s freshness + a minute
    assert peaks["received_revocations"] < 1_300
    assert peaks["security_events"] < TOTAL // 10
    entries = _count(store, "audit_entries")
    clock.advance(86_400)
    prune_iam(iam)
    assert _count(store, "audit_entries") == entries  # the audit log is never pruned
    assert _count(store, "issued_tokens") == 0
