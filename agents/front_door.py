"""The front door: the app that hands a person's request to an agent, within a task.

It is not an agent and holds no model: it takes the request (a chat message, a scenario's
``Ask``), opens a task for the agent at the IAM as the ``hotel-chat`` app (a task token whose
``may_act`` names the agent), hands the task token to the agent's identity beside the request,
and ends the task when the answer is given by revoking the task token — which revokes every
token the agent got within it (docs/design.md "Tasks", iam_core/tasks.py). The agent's key
cannot open a task; only the front door's credentials can.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agents.identity import AgentIdentity
from agents.oauth import AppCredentials, OAuthClient, OAuthClientError

if TYPE_CHECKING:
    from agents.runtime import AgentRuntime, Conversation

FRONT_DOOR = "hotel-chat"
TASK_SCOPE = "tasks:open"


@dataclass(frozen=True, slots=True)
class Task:
    """A task opened for ``agent``: the token its identity presents, and when it ends."""

    agent: str
    token: str
    expires_in: int


class FrontDoor:
    def __init__(self, oauth: OAuthClient, credentials: AppCredentials) -> None:
        self.oauth = oauth
        self.credentials = credentials

    async def open(self, agent: str) -> Task:
        """Open a task for ``agent`` (raises OAuthClientError when the IAM refuses)."""
        answer = await self.oauth.app_token(
            self.credentials, scope=TASK_SCOPE, requested_actor=agent
        )
        return Task(agent, str(answer["access_token"]), int(answer.get("expires_in", 0)))

    async def close(self, task: Task) -> None:
        """End the task: revoke it, and with it every token issued within it (RFC 7009).
        An already ended task (the agent blocked, say) is as good as ended now."""
        with contextlib.suppress(OAuthClientError):
            await self.oauth.revoke(task.token, as_app=self.credentials)


async def ask(
    door: FrontDoor | None,
    runtime: AgentRuntime,
    request: str,
    *,
    keep: bool = False,
    task: Task | None = None,
    **kwargs: Any,
) -> tuple[Conversation, Task | None]:
    """Hand ``request`` to ``runtime`` within a task the front door opens (or ``task``, one
    it kept open: the person goes on with it), and end the task with the answer unless
    ``keep`` (then the caller ends it: returned beside the answer).

    Only an agent with an identity of its own (agent IAM) gets a task; the other ways of
    deploying agents (a shared key, the user's token, a service account) have none to hold.
    A refused task (the agent is blocked, say) is said in the transcript: the agent then asks
    in no task, and the IAM refuses it any token of its own for a service.
    """
    refused: str | None = None
    if task is None and door is not None and isinstance(runtime.identity, AgentIdentity):
        try:
            task = await door.open(runtime.agent_id)
        except OAuthClientError as exc:
            refused = exc.description
    try:
        convo = await runtime.run(request, task=task.token if task else None, **kwargs)
    finally:
        if door is not None and task is not None and not keep:
            await door.close(task)
    if refused is not None:
        convo.events.insert(0, {"kind": "task", "outcome": "refused", "reason": refused})
    return convo, (task if keep else None)
