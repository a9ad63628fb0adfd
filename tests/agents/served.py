"""A request handed to an agent as the chat hands it: through the front door, in a task.

The front door (``hotel-chat``) opens the request's task, the agent serves it, the task ends
with the answer — or stays open with ``end_task=False`` (the person goes on later), as
``agent-iam chat`` and the scenarios' ``Ask`` do (agents/front_door.py, docs/design.md §3.2).
Deployments without agent identities (a shared key, the user's token) have no task to open.
"""

from __future__ import annotations

from typing import Any

from agents.front_door import FRONT_DOOR, FrontDoor, ask
from agents.identity import AgentIdentity
from agents.oauth import AppCredentials
from agents.runtime import AgentRuntime, Conversation
from iam_core.seed import DEMO_SECRETS


async def served(runtime: AgentRuntime, request: str, **kwargs: Any) -> Conversation:
    identity = runtime.identity
    door = (
        FrontDoor(identity.oauth, AppCredentials(FRONT_DOOR, DEMO_SECRETS[FRONT_DOOR]))
        if isinstance(identity, AgentIdentity)
        else None
    )
    convo, _ = await ask(door, runtime, request, keep=not kwargs.get("end_task", True), **kwargs)
    return convo
