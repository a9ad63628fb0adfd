"""What a hijacked agent does with the authority it holds, and messages forged to agents.

Each move asks the IAM for more than the user or the hand-off allowed, or floods it, or
reaches an agent with a message that is not what it claims; the baseline, which has no
such authority to exceed, just calls with the shared key (docs/attacks.md).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from agents.identity import AgentIdentity
from agents.messages import sign_message
from agents.oauth import AgentCredentials, OAuthClientError
from scenarios.model import AttackerCall, Run, Step
from scenarios.steps.tokens import Call


@dataclass
class Exchange(Step):
    """A hijacked agent asks the IAM for ``scope`` at ``service`` on the user's behalf —
    more than the user consented to — and uses it; the baseline just calls."""

    scope: str
    service: str
    path: str
    body: dict[str, Any]
    user: str = "alice"
    agent: str = "booking-assistant"
    as_user: str = "alice"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        label = f"exchange for {self.scope}"
        if run.baseline:
            await Call(
                label, "POST", self.service, self.path, body=self.body, as_user=self.as_user
            ).run(run)
            return
        runtime = run.agents[self.agent]
        identity = runtime.identity
        assert isinstance(identity, AgentIdentity)
        try:
            await identity.request_scope(self.user, self.service, self.scope)
        except OAuthClientError as exc:
            run.attacker_calls.append(AttackerCall(label, exc.status, exc.description))
            return
        url = f"{run.dep.resource(self.service)}{self.path}"
        headers, _ = await identity.headers(self.user, self.service, "POST", url)
        response = await runtime.http.post(url, json=self.body, headers=headers)
        run.attacker_calls.append(AttackerCall(label, response.status_code, response.text[:200]))

    def describe(self) -> str:
        return f"hijacked {self.agent} asks the IAM for {self.scope} for {self.user}"


@dataclass
class Flood(Step):
    """A hijacked agent loops: ``tokens`` (token requests) or ``searches``."""

    what: str
    n: int
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        runtime = run.agents[self.agent]
        url = f"{run.dep.resource('availability')}/hotels"
        for i in range(self.n):
            if self.what == "tokens" and isinstance(runtime.identity, AgentIdentity):
                try:
                    await runtime.identity.oauth.agent_token(
                        runtime.identity.credentials, resource=run.dep.resource("availability")
                    )
                    status = 200
                except OAuthClientError as exc:
                    status = exc.status
            else:
                headers, _ = await runtime.identity.headers(None, "availability", "GET", url)
                status = (await runtime.http.get(url, headers=headers)).status_code
            run.attacker_calls.append(AttackerCall(f"flood {self.what} {i}", status))

    def describe(self) -> str:
        return f"hijacked {self.agent} sends {self.n} {self.what} requests in a loop"


@dataclass
class Message(Step):
    """A message arrives at ``to``: ``forged`` (signed with the attacker's key, claiming to
    come from booking-assistant), ``unsigned`` (alg none), or ``replayed`` (a genuine
    message, captured and delivered a second time)."""

    to: str
    task: str
    how: str
    user: str = "alice"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        sender = "booking-assistant"
        genuine = run.dep.agent(sender)
        if self.how == "forged":
            key = ec.generate_private_key(ec.SECP256R1())
            creds = AgentCredentials(sender, key, genuine.kid)
            message = sign_message(creds, self.to, user=self.user, task=self.task)
        elif self.how == "unsigned":
            now = int(time.time())
            claims = {"iss": sender, "aud": self.to, "iat": now, "exp": now + 60}
            claims |= {"jti": secrets.token_urlsafe(8), "user": self.user, "task": self.task}
            message = jwt.encode(
                claims, cast(Any, None), algorithm="none", headers={"typ": "agent-msg+jwt"}
            )
        else:
            message = sign_message(genuine, self.to, user=self.user, task=self.task)
        deliveries = 2 if self.how == "replayed" else 1
        for _ in range(deliveries):
            convo = await run.agents[self.to].receive(message, None, trace_id=secrets.token_hex(16))
            run.conversations.append(convo)

    def describe(self) -> str:
        return f"a {self.how} message reaches {self.to}: “{self.task}”"


@dataclass
class HandOff(Step):
    """A hijacked agent tries to pass more of its delegation to another agent than the
    hand-off allows (``scope``); in the baseline, the other agent just uses the shared key."""

    scope: str
    then_path: str
    then_body: dict[str, Any]
    user: str = "alice"
    sender: str = "booking-assistant"
    to: str = "staff-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        service = self.scope.split(":")[0]
        label = f"hand-off {self.scope}"
        if run.baseline:
            await Call(
                label, "POST", service, self.then_path, body=self.then_body, as_user=self.user
            ).run(run)
            return
        identity = run.agents[self.sender].identity
        assert isinstance(identity, AgentIdentity)
        try:
            grant, _ = await identity.handoff_grant(self.user, self.to, self.scope)
        except OAuthClientError as exc:
            run.attacker_calls.append(AttackerCall(label, exc.status, exc.description))
            return
        receiver = run.agents[self.to].identity
        assert isinstance(receiver, AgentIdentity)
        try:
            use = await receiver.accept_handoff(grant, service=service)
        except OAuthClientError as exc:
            run.attacker_calls.append(AttackerCall(label, exc.status, exc.description))
            return
        url = f"{run.dep.resource(service)}{self.then_path}"
        headers, _ = await receiver.headers(receiver.principal_key(use), service, "POST", url)
        response = await run.agents[self.to].http.post(url, json=self.then_body, headers=headers)
        run.attacker_calls.append(AttackerCall(label, response.status_code, response.text[:200]))

    def describe(self) -> str:
        return f"{self.sender} hands {self.scope} of {self.user}'s delegation to {self.to}"
