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

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from agents.identity import AgentIdentity, NoAuthority
from agents.messages import sign_message
from agents.oauth import AgentCredentials, OAuthClientError
from agents.ordinary import ServiceAccountIdentity
from scenarios.model import AttackerCall, Run, Step


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
        runtime = run.agents[self.agent]
        if not run.agent_iam:
            # No delegation to exceed: the agent calls with the authority it holds.
            await call_as(run, self.agent, self.as_user, label, self.service, self.path, self.body)
            return
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


async def call_as(
    run: Run,
    agent: str,
    principal: str | None,
    label: str,
    service: str,
    path: str,
    body: dict[str, Any] | None,
    method: str = "POST",
) -> httpx.Response | None:
    """One request made with an agent's own authority for ``principal`` (hijacked); its
    answer (None: no request could be made)."""
    runtime = run.agents[agent]
    url = f"{run.dep.resource(service)}{path}"
    try:
        headers, _ = await runtime.identity.headers(principal, service, method, url)
    except (NoAuthority, OAuthClientError) as exc:
        status = exc.status if isinstance(exc, OAuthClientError) else 0
        run.attacker_calls.append(AttackerCall(label, status, str(exc)[:200]))
        return None
    response = await runtime.http.request(method, url, json=body, headers=headers)
    error = None if response.status_code < 400 else response.text[:200]
    run.attacker_calls.append(AttackerCall(label, response.status_code, error))
    return response


# Values a hijacker's later call takes from the booking its earlier call made (what the
# hijacked agent read in the answer): ``{"booking_id": "{booking.id}", ...}``.
REFERENCES = {"{booking.id}": "id", "{booking.total_cents}": "total_cents"}


@dataclass
class Hijack(Step):
    """A compromised agent's tool call toward the attacker's goal (``--model compromised``):
    from the injection point on the attacker chooses the calls; the agent's authority for
    ``user`` — whatever the deployment profile gives it — is what they are made with."""

    label: str
    service: str
    path: str
    body: dict[str, Any] | None = None
    method: str = "POST"
    user: str | None = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        label = f"hijack {self.label}"
        body = self.body
        if body and any(v in REFERENCES for v in body.values()):
            made = run.loot.get("booking")
            if not isinstance(made, dict):  # the booking this call refers to was not made
                run.attacker_calls.append(AttackerCall(label, 0, "no booking made to act on"))
                return
            body = {
                k: made.get(REFERENCES[v], v) if v in REFERENCES else v for k, v in body.items()
            }
        answer = await call_as(
            run, self.agent, self.user, label, self.service, self.path, body, self.method
        )
        if self.service == "booking" and answer is not None and answer.status_code == 201:
            made = answer.json()
            run.loot["booking"] = made.get("data", made) if isinstance(made, dict) else None

    def describe(self) -> str:
        return f"compromised {self.agent}: {self.method} {self.service}{self.path} ({self.label})"


@dataclass
class Flood(Step):
    """A hijacked agent loops: ``tokens`` — it asks the token endpoint for fresh tokens with
    whatever it holds (an agent's private_key_jwt and the task token of its last request, a
    service account's secret); ``searches`` — it searches availability with the authority it
    holds (its own, else ``user``'s). A deployment whose agent holds no client credentials
    (shared key, the user's tokens) has no token endpoint to loop on: each attempt is
    recorded as impossible (status 0), never as a search in its place."""

    what: str
    n: int
    agent: str = "booking-assistant"
    user: str | None = "alice"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        runtime = run.agents[self.agent]
        identity = runtime.identity
        resource = run.dep.resource("availability")
        url = f"{resource}/hotels"
        for i in range(self.n):
            label, error = f"flood {self.what} {i}", None
            if self.what == "tokens":
                try:
                    if isinstance(identity, AgentIdentity):
                        await identity.oauth.agent_token(
                            identity.credentials, resource=resource, task=identity.task
                        )
                    elif isinstance(identity, ServiceAccountIdentity):
                        await identity.oauth.app_token(identity.client, resource=resource)
                    else:
                        raise NoAuthority("no client credentials: no token endpoint to loop on")
                    status = 200
                except OAuthClientError as exc:
                    status, error = exc.status, exc.description
                except NoAuthority as exc:
                    status, error = 0, str(exc)
            else:
                try:
                    try:
                        headers, _ = await identity.headers(None, "availability", "GET", url)
                    except NoAuthority:
                        headers, _ = await identity.headers(self.user, "availability", "GET", url)
                except (NoAuthority, OAuthClientError) as exc:
                    status, error = 0, str(exc)  # nothing to call with: no request made
                else:
                    status = (await runtime.http.get(url, headers=headers)).status_code
            run.attacker_calls.append(AttackerCall(label, status, error))

    def describe(self) -> str:
        return f"hijacked {self.agent} sends {self.n} {self.what} requests in a loop"


@dataclass
class Message(Step):
    """A message arrives at ``to``: ``forged`` (signed with the attacker's key, claiming to
    come from ``sender``), ``unsigned`` (alg none), or ``replayed`` (a genuine message,
    captured and delivered a second time)."""

    to: str
    task: str
    how: str
    user: str = "alice"
    sender: str = "booking-assistant"  # whom the message claims to come from
    attacker: bool = True

    async def run(self, run: Run) -> None:
        sender = self.sender
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
        return f"a {self.how} message “from {self.sender}” reaches {self.to}: “{self.task}”"


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
        if not run.agent_iam:
            # No hand-off to narrow: the other agent calls with the authority it holds.
            await call_as(run, self.to, self.user, label, service, self.then_path, self.then_body)
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
