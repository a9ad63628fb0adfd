"""A deployment built once per process and reused by many runs, each on a fresh state.

Building a deployment — the IAM's and the four services' FastAPI apps, their routes and
middleware, guards, keys, the agents' runtimes and compiled graphs — costs far more CPU than
playing a scenario. A :class:`Stack` is built once per (profile, IAM configuration, seed) in
a process; :meth:`Stack.fresh` then gives each run the state a newly built deployment has:

* the database (registry, tokens, consents, revocations, quotas, the hotel's world, the
  audit log) restored from the template taken right after the build, with SQLite's online
  backup API (:meth:`iam_core.store.Store.snapshot` / ``restore``);
* every in-memory cache reset by its own ``reset_state()`` — found by walking the stack's
  object graph once (:func:`iam_core.state_reset.resettables`), so a component cannot be
  forgotten by a list that was not updated; tests/scenarios/test_stack_reuse.py proves the
  in-memory state after ``run, reset`` equals the state after ``build``;
* every HTTP client's cookies and headers put back as they were built.

The model is the run's own: each run hands the runtimes the model it plays with.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx
from starlette.applications import Starlette

from iam_core.iam import IAMConfig
from iam_core.state_reset import Resettable, resettables, walk
from iam_core.store import Store
from scenarios.crew import build_crew
from scenarios.deployment import TEST_STORE_ENV, Deployment, agent_keystore, close, in_process
from scenarios.profiles import Profile

if TYPE_CHECKING:
    from agents.llm.client import ChatModel
    from agents.runtime import AgentRuntime
    from hotel.world import WorldSnapshot


class _ClientReset:
    """An HTTP client's cookies and headers back to what they were when the stack was built."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.headers = list(client.headers.multi_items())

    def reset_state(self) -> None:
        self.client.cookies.clear()
        self.client.headers = httpx.Headers(self.headers)


@dataclass
class Stack:
    """One built deployment and its crew; :meth:`fresh` for each run."""

    dep: Deployment
    agents: dict[str, AgentRuntime]
    template: sqlite3.Connection
    before: WorldSnapshot  # the world's snapshot in the template: each run's ``before``
    parts: list[Resettable] = field(default_factory=list)
    runs: int = 0
    busy: bool = False

    @property
    def roots(self) -> tuple[object, ...]:
        """Where every object of the stack is reachable from (for the walks)."""
        return (self.dep, self.agents)

    def reset(self) -> None:
        """The state of a newly built deployment: the database, then every cache."""
        assert self.dep.iam is not None
        store = self.dep.iam.store
        assert isinstance(store, Store)
        store.restore(self.template)
        for part in self.parts:
            part.reset_state()

    @asynccontextmanager
    async def fresh(self, model: ChatModel) -> AsyncIterator[tuple[Deployment, dict[str, Any]]]:
        """The deployment and crew on a fresh state, playing with ``model``."""
        if self.busy:
            raise RuntimeError("a stack serves one run at a time (another run holds it)")
        if self.runs:
            self.reset()
        self.runs += 1  # build() reset the stack for the first run
        for runtime in self.agents.values():
            runtime.model = model
        self.busy = True
        try:
            yield self.dep, self.agents
        finally:
            self.busy = False

    async def aclose(self) -> None:
        self.template.close()
        for runtime in self.agents.values():
            await runtime.aclose()
        await close(self.dep)


async def build(prof: Profile, config: IAMConfig | None, seed: int, model: ChatModel) -> Stack:
    """Build a deployment and its crew as a fresh run would, and take the template."""
    # Built without context managers: a stack outlives the event loop it was built in (a
    # worker process runs each batch in its own), and asyncio.run closes suspended ones.
    dep = in_process(None, keystore=agent_keystore(True), seed=seed, config=config, prof=prof)
    agents = build_crew(dep, model)
    assert dep.iam is not None
    assert dep.hotel is not None
    store = dep.iam.store
    if not isinstance(store, Store):  # a PostgreSQL test store: see reusable()
        raise TypeError(f"a reused stack needs an SQLite store, not {type(store).__name__}")
    stack = Stack(dep, agents, store.copy_to_memory(), dep.hotel.world.snapshot())
    found: list[Resettable] = []
    for obj in walk(stack.roots):
        if isinstance(obj, httpx.AsyncClient):
            found.append(_ClientReset(obj))
        elif isinstance(obj, Starlette) and obj.middleware_stack is None:
            # What Starlette builds at an app's first request, built now: part of the stack.
            obj.middleware_stack = obj.build_middleware_stack()
    stack.parts = [*resettables(stack.roots), *found]
    stack.reset()  # every run, the first too, starts from the same reset state
    return stack


def reusable() -> bool:
    """Whether runs can share a stack: its state is reset by SQLite's backup API, so not
    when ``AGENT_IAM_TEST_STORE`` puts in-memory stacks on PostgreSQL (then every run
    builds its own, as before stacks were reused)."""
    return not os.environ.get(TEST_STORE_ENV)


class Stacks:
    """The stacks of one process, by (profile, IAM configuration, seed)."""

    def __init__(self) -> None:
        self._built: dict[tuple[str, str, int], Stack] = {}

    async def get(
        self, prof: Profile, config: IAMConfig | None, seed: int, model: ChatModel
    ) -> Stack:
        key = (prof.name, repr(config), seed)
        if key not in self._built:
            self._built[key] = await build(prof, config, seed, model)
        return self._built[key]

    async def aclose(self) -> None:
        built, self._built = self._built, {}
        for stack in built.values():
            await stack.aclose()
