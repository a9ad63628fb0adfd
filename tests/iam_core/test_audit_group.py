"""Group commit: concurrent appends share one transaction, in order, each caller answered
only once its entry is committed; a bad event fails alone; the sync path commits at once."""

from __future__ import annotations

import asyncio

import pytest

from iam_core.audit import AuditError, AuditEvent, AuditKey, AuditLog
from iam_core.audit_group import GroupCommitAppender
from iam_core.clock import ManualClock
from iam_core.store import AnyStore


@pytest.fixture
def log(any_store: AnyStore) -> AuditLog:
    """On SQLite and on PostgreSQL (tests/conftest.py: any_store)."""
    return AuditLog(
        any_store, AuditKey.generate(), ManualClock(1_790_000_000.5), checkpoint_every=3
    )


def _event(i: int, outcome: str = "allowed") -> AuditEvent:
    return AuditEvent("t", outcome, f"r{i}", details={"i": i})  # type: ignore[arg-type]


def test_concurrent_appends_commit_in_one_batch_in_order(log: AuditLog) -> None:
    group = GroupCommitAppender(log)

    async def main() -> list[int]:
        entries = await asyncio.gather(*(group.append_async(_event(i)) for i in range(10)))
        return [e.seq for e in entries]

    assert asyncio.run(main()) == list(range(1, 11))
    assert (group.batches, group.entries) == (1, 10)
    assert [e.details["i"] for e in log.query()] == list(range(10))
    assert log.verify().ok and log.verify().checkpoints_checked == 3


def test_a_caller_is_answered_only_after_its_commit(log: AuditLog) -> None:
    group = GroupCommitAppender(log)

    async def main() -> None:
        future = group.submit(_event(1))
        assert not future.done() and len(log) == 0  # queued, not yet answered
        entry = await future
        assert len(log) == entry.seq == 1

    asyncio.run(main())


def test_a_bad_event_fails_alone(log: AuditLog) -> None:
    group = GroupCommitAppender(log)

    async def main() -> tuple[object, ...]:
        return await asyncio.gather(
            group.append_async(_event(1)),
            group.append_async(_event(2, outcome="maybe")),
            group.append_async(_event(3)),
            return_exceptions=True,
        )

    _, bad, _ = asyncio.run(main())
    assert isinstance(bad, AuditError)
    assert [e.reason for e in log.query()] == ["r1", "r3"]
    assert log.verify().ok


def test_the_sync_path_commits_at_once(log: AuditLog) -> None:
    assert GroupCommitAppender(log).append(_event(1)).seq == 1 == len(log)
    with pytest.raises(AuditError):
        GroupCommitAppender(log).append(_event(2, outcome="maybe"))
