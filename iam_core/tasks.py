"""Tasks: an agent's own authority at a service lives only as long as a person's request.

An agent acting on its own authority (an Agent token from ``client_credentials``) holds the
few autonomous scopes its registration grants — but without a bound in time, a hijacked
agent keeps them for as long as its key works: it loops on searches long after the person
who asked has her answer (docs/attacks.md #16). Quotas bound how fast; they do not end it.

So the front door — the app that hands a person's request to an agent and gives her the
answer — opens a **task** for that request and ends it when the answer is given:

* **Open.** The front door (an app holding ``tasks:open``) asks ``client_credentials`` with
  ``scope=tasks:open`` and ``requested_actor=<agent>``; the task token is an App token for
  the IAM whose ``may_act`` (RFC 8693 §4.4) names the one agent that may act within it.
* **Act.** The agent asks its own token for a service with ``task_token`` (an extension
  parameter of the token request, RFC 6749 §8.2). The IAM checks the task is live and names
  this agent; the token carries ``task`` (the task's ``jti``), never outlives the task, and
  a task yields at most ``tokens_per_task`` tokens. The agent's identity token for the IAM
  itself (its ``actor_token``, no scope at any service) needs no task.
* **End.** The front door revokes the task token (RFC 7009). Every token issued within the
  task is revoked with it, and revocation events carry that to every service
  (docs/design.md, tasks). Blocking the agent revokes its open tasks (``may_act``).

The checks at the token endpoint are in :mod:`iam_core.grants.task`.

A person's delegated authority joins the task when the agent redeems her code with
``task_token``; every token exchanged or handed off from it inherits the task (the holder
cannot drop it). So ending the task revokes the delegation too — without relying on the
agent to revoke what it holds, which a hijacked runtime would not.
"""

from __future__ import annotations

from iam_core.tokens import Token, TokenType

TASK_SCOPE = "tasks:open"
TASK_CLAIM = "task"
TASK_PARAMETER = "task_token"


def task_name(jti: str) -> str:
    """How the tokens of a task are named in the revocation registry (``token_actors``,
    :func:`iam_core.revocation.revocation_names`)."""
    return f"task:{jti}"


def is_task_token(token: Token) -> bool:
    return token.token_type is TokenType.APP and TASK_SCOPE in token.scopes
