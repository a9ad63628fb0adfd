"""Shared fixtures: an in-memory deployment per test, reached over in-process HTTP.

Hypothesis profiles: ``quick`` (default), ``ci`` (CI's longer run), ``deep`` (by hand),
``mutation`` (tests/mutation);
choose with ``HYPOTHESIS_PROFILE`` (``CI=true`` picks ``ci``). The example database is off
in CI so that a stored failure from one run cannot make another flaky.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from scenarios.deployment import Deployment, deployment

# stateful_step_count: steps per example of the state machines (tests/property/).
settings.register_profile(
    "quick",
    max_examples=40,
    stateful_step_count=20,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=200,
    stateful_step_count=60,
    deadline=None,
    database=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "deep",
    max_examples=5000,
    stateful_step_count=100,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# python -m tests.mutation: fail fast, no shrinking (a mutant needs one failure, not a minimal one).
settings.register_profile(
    "mutation",
    max_examples=200,
    stateful_step_count=30,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow],
)
# CI (CI=true) runs the longer profile with the very same test command as the README.
settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "quick")
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def dep() -> AsyncIterator[Deployment]:
    async with deployment(in_memory=True) as d:
        yield d
