"""A front door's task at the token endpoint: opening one, and asking a token within one.

What a task is and why: :mod:`iam_core.tasks` (docs/design.md "Tasks").
"""

from __future__ import annotations

from collections.abc import Mapping

from iam_core.errors import InvalidGrant, InvalidRequest, InvalidToken, TemporarilyUnavailable
from iam_core.iam import IAM
from iam_core.tasks import TASK_CLAIM, TASK_PARAMETER, TASK_SCOPE, is_task_token, task_name
from iam_core.tokens import Token


def task_actor(iam: IAM, form: Mapping[str, str]) -> str:
    """The agent a front door opens a task for (``requested_actor``): registered, active."""
    agent_id = form.get("requested_actor")
    if not agent_id:
        raise InvalidRequest(f"{TASK_SCOPE} needs requested_actor: the agent the task is for")
    agent = iam.registry.get_agent(agent_id[:64])
    if agent is None or agent.status != "active":
        raise InvalidRequest(f"requested_actor {agent_id[:64]!r} is not an active agent")
    return agent.id


def live_task(iam: IAM, form: Mapping[str, str], agent_id: str) -> Token:
    """The task an agent's own token for a service is asked within; refused unless live and
    opened for this agent (docs/design.md, tasks)."""
    raw = form.get(TASK_PARAMETER)
    if not raw:
        raise InvalidRequest(
            f"{TASK_PARAMETER} is required: an agent acts at a service (on its own authority "
            "or a person's) only within a task its front door opened"
        )
    try:
        task = iam.verify_active(raw, audience=iam.issuer)
    except InvalidToken as exc:
        raise InvalidGrant(f"the task is over or unknown ({exc.description})") from exc
    if task.exp <= iam.clock.now():
        # The leeway of verification is for other machines' clocks; the IAM reads its own:
        # past its end, a task yields nothing (a token born expired, honoured for the leeway).
        raise InvalidGrant("the task is over (expired)")
    if not is_task_token(task):
        raise InvalidGrant(f"{TASK_PARAMETER} is not a task token")
    may_act = task.claims.get("may_act")
    if not isinstance(may_act, Mapping) or may_act.get("sub") != agent_id:
        raise InvalidGrant(f"the task was not opened for {agent_id}")
    _within_budget(iam, task.jti)
    return task


def _within_budget(iam: IAM, task_jti: str) -> None:
    """429 once the task has yielded ``tokens_per_task`` tokens — counting every token
    issued within it: the agent's own, the delegation redeemed in it, and whatever was
    exchanged or handed off from those (else an exchange loop escapes the cap)."""
    limit = iam.config.tokens_per_task
    issued = iam.store.one(
        "SELECT COUNT(*) AS n FROM token_actors WHERE actor = ?", (task_name(task_jti),)
    )
    if limit is not None and issued is not None and int(issued["n"]) >= limit:
        raise TemporarilyUnavailable(
            f"quota exceeded: the task already yielded {limit} tokens (tokens_per_task)"
        )


def bound_to_task(
    iam: IAM, form: Mapping[str, str], actor: str
) -> tuple[dict[str, str], int | None]:
    """A person's delegation redeemed by an agent within a task: its ``task`` claim and end,
    so that ending the task revokes it too — whoever holds it. Required while tasks are on
    (deny by default): a runtime that left the task out would hold a delegation no task
    ends."""
    if not form.get(TASK_PARAMETER) and not iam.config.task_scoped_agents:
        return {}, None
    task = live_task(iam, form, actor)
    return {TASK_CLAIM: task.jti}, task.exp


def inherited_task(iam: IAM, subject: Token) -> tuple[dict[str, str], int]:
    """A token exchanged from one issued within a task belongs to that task: the holder
    cannot drop the binding, the new token never outlives the task, and it counts against
    the task's ``tokens_per_task``. Within a task or not, an exchanged token never outlives
    its subject token: re-exchanging before expiry cannot renew a delegation for as long as
    the consent lasts (RFC 8693 §2.1 leaves the lifetime to the server)."""
    task = subject.claims.get(TASK_CLAIM)
    if not isinstance(task, str):
        return {}, subject.exp  # a delegation never outlives the token it came from
    _within_budget(iam, task)  # an exchange or hand-off is one more token of the task
    row = iam.store.one("SELECT exp FROM issued_tokens WHERE jti = ?", (task,))
    ends = int(row["exp"]) if row else subject.exp
    if ends <= iam.clock.now():
        raise InvalidGrant("the task the subject_token belongs to is over (expired)")
    return {TASK_CLAIM: task}, min(ends, subject.exp)
