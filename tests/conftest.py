"""Shared fixtures: an in-memory deployment per test, reached over in-process HTTP.

Hypothesis profiles: ``quick`` (default), ``ci`` (CI's longer run), ``deep`` (by hand),
``mutation`` (tests/mutation);
choose with ``HYPOTHESIS_PROFILE`` (``CI=true`` picks ``ci``). The example database is off
in CI so that a stored failure from one run cannot make another flaky.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import HealthCheck, Phase, settings

from iam_core.store import AnyStore, Store
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


# -- PostgreSQL (tests/postgres and the `any_store` fixture) ---------------------------
# The server the tests use: 127.0.0.1:5432, database `test`, trust auth (README, "Tests").
PG_URL = os.environ.get("AGENT_IAM_TEST_PG", "postgresql://127.0.0.1:5432/test")


def _pg_unavailable() -> str | None:
    """Why PostgreSQL tests cannot run here, or None when the server answers."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        return f"no PostgreSQL server answers at {PG_URL}: {first}"
    return None


@pytest.fixture(scope="session")
def pg_server() -> str:
    """The server's URL; skips the test with the reason when it does not answer."""
    why = _pg_unavailable()
    if why is not None:
        pytest.skip(why)
    return PG_URL


@pytest.fixture
def pg_url(pg_server: str) -> Iterator[str]:
    """A connection string into a fresh schema ``test_<random>``, dropped afterwards: runs
    are isolated from each other and safe under xdist."""
    from iam_core.store_pg import create_scratch_schema, drop_schema

    name, conninfo = create_scratch_schema(pg_server)
    yield conninfo
    drop_schema(pg_server, name)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def any_store(request: pytest.FixtureRequest) -> Iterator[AnyStore]:
    """The same test on an in-memory SQLite store and on a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        store: AnyStore = Store()
    else:
        from iam_core.store_pg import scratch_store

        store = scratch_store(request.getfixturevalue("pg_server"))
    yield store
    store.close()
