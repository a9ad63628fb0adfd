"""Fixtures of the hotel tests beyond the shared ``dep``: a deployment on a hand-moved clock."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from iam_core.clock import ManualClock
from scenarios.deployment import Deployment, deployment


@pytest.fixture
async def clocked() -> AsyncIterator[tuple[Deployment, ManualClock]]:
    """A deployment whose IAM and guards read a clock the test moves by hand.

    It starts at the wall clock's time: client assertions are stamped with wall time, so
    tokens are fetched first and the clock advanced afterwards.
    """
    clock = ManualClock()
    async with deployment(in_memory=True, clock=clock) as dep:
        yield dep, clock
