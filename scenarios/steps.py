"""The moves a scenario is made of: people's requests to agents, and the attacker's moves.

Each step works in both deployments. With agent IAM the attacker holds what they could
really get (a stolen token without its DPoP key, a forged assertion, a planted review); in
the baseline the same attacker holds what that world gives away: the one shared API key,
which is in every agent's configuration, and the ``X-User`` header it trusts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any, cast

import jwt
import rfc8785
from cryptography.hazmat.primitives.asymmetric import ec

from agents.dpop import DPoPKey
from agents.identity import AgentIdentity
from agents.messages import sign_message
from agents.oauth import ASSERTION_TYPE, AgentCredentials, OAuthClientError
from hotel.baseline import DEMO_API_KEY
from iam_core.audit_keys import GENESIS_HASH, chain_hash
from iam_core.store import Store
from scenarios.crew import person
from scenarios.model import AttackerCall, Run, Step


@dataclass
class Ask(Step):
    """A person asks an agent; ``user`` logs in and consents (unless ``decline``).

    ``continue_task``: the agent goes on under the delegation it holds, no new consent.
    ``keep``: the task stays open (its tokens are not revoked when the answer is given).
    ``claims``: who the person says they are in the chat (believed by the baseline only).
    ``attacker``: the request itself is the attacker's move.
    """

    agent: str
    text: str
    user: str | None = None
    claims: str | None = None
    continue_task: bool = False
    keep: bool = False
    decline: bool = False
    attacker: bool = False

    async def run(self, run: Run) -> None:
        runtime = run.agents[self.agent]
        human = None
        if self.user is not None and not self.continue_task:
            human = person(self.user, approve=lambda page: not self.decline)
        convo = await runtime.run(
            self.text,
            human=human,
            principal=self.user if self.continue_task else None,
            claimed=self.claims,
            end_task=not self.keep,
        )
        run.conversations.append(convo)

    def describe(self) -> str:
        who = f"{self.user} → " if self.user else ""
        return f"{who}{self.agent}: “{self.text}”"


@dataclass
class PlantReview(Step):
    """The attacker writes a hotel review: free text that agents will read."""

    hotel: str
    text: str
    attacker: bool = True

    async def run(self, run: Run) -> None:
        run.world.add_review(self.hotel, "Anonymous traveller", self.text, 5)

    def describe(self) -> str:
        return f"attacker plants a review at {self.hotel}: “{self.text}”"


@dataclass
class PlantNote(Step):
    """The attacker leaves a concierge request: notes staff agents read as shared memory."""

    guest: str
    text: str
    attacker: bool = True

    async def run(self, run: Run) -> None:
        run.world.create_request(self.guest, self.text, None, created_by=self.guest)

    def describe(self) -> str:
        return f"attacker leaves a note (as {self.guest}): “{self.text}”"


@dataclass
class Steal(Step):
    """The attacker copies a token out of an agent's runtime (not its DPoP key, unless
    ``with_key``); in the baseline what is there to copy is the shared API key."""

    agent: str
    principal: str
    service: str
    name: str = "stolen"
    with_key: bool = False
    attacker: bool = True

    async def run(self, run: Run) -> None:
        identity = run.agents[self.agent].identity
        if isinstance(identity, AgentIdentity):
            found = identity.exfiltrate(self.principal, self.service)
            if found is not None:
                token, key = found
                run.loot[self.name] = {"token": token, "key": key if self.with_key else None}
        else:
            run.loot[self.name] = {"api_key": identity.api_key}

    def describe(self) -> str:
        key = " and its DPoP key" if self.with_key else ""
        return f"attacker copies {self.agent}'s {self.service} token for {self.principal}{key}"


@dataclass
class EndTask(Step):
    agent: str
    principal: str

    async def run(self, run: Run) -> None:
        await run.agents[self.agent].end_task(self.principal)

    def describe(self) -> str:
        return f"{self.agent} ends the task for {self.principal} (its tokens are revoked)"


@dataclass
class Call(Step):
    """The attacker calls a service directly with loot (``use``), proving possession with
    their own key, the stolen key, a replayed proof, or none. In the baseline: the shared
    key, naming ``as_user`` in ``X-User``."""

    label: str
    method: str
    service: str
    path: str
    use: str = "stolen"
    proof: str = "own"  # own | stolen | replayed | none
    body: dict[str, Any] | None = None
    as_user: str = "alice"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        url = f"{run.dep.resource(self.service)}{self.path}"
        if run.baseline:
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}", "X-User": self.as_user}
        else:
            loot = run.loot.get(self.use)
            if loot is None or "token" not in loot:
                run.attacker_calls.append(AttackerCall(self.label, 0, "nothing to use"))
                return
            headers = _presentation(loot, self.method, url, self.proof)
        response = await run.dep.http.request(self.method, url, headers=headers, json=self.body)
        if self.proof == "replayed" and not run.baseline:
            # The captured request went through once; the attacker sends it again.
            response = await run.dep.http.request(self.method, url, headers=headers, json=self.body)
        error = None if response.status_code < 400 else response.text[:200]
        run.attacker_calls.append(AttackerCall(self.label, response.status_code, error))

    def describe(self) -> str:
        where = f"{self.method} {self.service}{self.path}"
        return f"attacker: {where} with {self.use} ({self.proof} proof)"


def _presentation(loot: dict[str, Any], method: str, url: str, proof: str) -> dict[str, str]:
    token = str(loot["token"])
    bound = "cnf" in jwt.decode(token, options={"verify_signature": False})
    if not bound or proof == "none":
        return {"Authorization": f"{'DPoP' if bound else 'Bearer'} {token}"}
    key: DPoPKey = loot["key"] if proof in ("stolen", "replayed") and loot["key"] else DPoPKey()
    return {"Authorization": f"DPoP {token}", "DPoP": key.proof(method, url, token)}


@dataclass
class SpoofAgent(Step):
    """The attacker asks for booking-assistant's token with a forged client assertion, then
    uses whatever it got at availability. ``how``: forged-key | alg-none | hs256 | unknown-kid."""

    how: str
    agent: str = "booking-assistant"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        url = f"{run.dep.resource('availability')}/hotels"
        if run.baseline:
            # No agent identity to spoof: whoever holds the shared key is "the agent".
            headers = {"Authorization": f"Bearer {DEMO_API_KEY}", "X-User": self.agent}
            response = await run.dep.http.get(url, headers=headers)
            run.attacker_calls.append(AttackerCall(f"spoof {self.how}", response.status_code))
            return
        assertion = _forged_assertion(run, self.agent, self.how)
        form = {
            "grant_type": "client_credentials",
            "client_id": self.agent,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": assertion,
            "resource": run.dep.resource("availability"),
        }
        answer = await run.dep.http.post("/token", data=form)
        if answer.status_code != 200:
            run.attacker_calls.append(
                AttackerCall(f"spoof {self.how}", answer.status_code, answer.text[:200])
            )
            return
        token = answer.json()["access_token"]
        response = await run.dep.http.get(url, headers={"Authorization": f"Bearer {token}"})
        run.attacker_calls.append(AttackerCall(f"spoof {self.how}", response.status_code))

    def describe(self) -> str:
        return f"attacker authenticates as {self.agent} with a {self.how} assertion"


def _forged_assertion(run: Run, agent: str, how: str) -> str:
    token_url = f"{run.dep.issuer}/token"
    now = int(time.time())
    claims = {
        "iss": agent,
        "sub": agent,
        "aud": token_url,
        "iat": now,
        "exp": now + 60,
        "jti": secrets.token_urlsafe(12),
    }
    kid = run.dep.keystore.kid(agent)
    if how == "alg-none":
        return jwt.encode(claims, cast(Any, None), algorithm="none", headers={"kid": kid})
    if how == "hs256":
        # The public key, used as an HMAC secret (the classic algorithm confusion).
        public = json.dumps(run.dep.keystore.public_jwk(agent), sort_keys=True).encode()
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        body = _b64(json.dumps(claims).encode())
        signature = hmac.new(public, f"{header}.{body}".encode(), hashlib.sha256).digest()
        return f"{header}.{body}.{_b64(signature)}"
    attacker_key = ec.generate_private_key(ec.SECP256R1())
    headers = {"kid": "attacker-key-1" if how == "unknown-kid" else kid}
    return jwt.encode(claims, attacker_key, algorithm="ES256", headers=headers)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class Revoke(Step):
    """Authority is taken back mid-task: the user withdraws consent on the account page,
    the IAM admin blocks the agent, or disables the user."""

    how: str  # withdraw | block | disable
    user: str = "alice"
    agent: str = "booking-assistant"
    attacker: bool = True  # part of the attack's setting: the agent then keeps going

    async def run(self, run: Run) -> None:
        if self.how == "withdraw":
            who = person(self.user)
            await run.dep.oauth.withdraw_consent(
                user=who.user_id, password=who.password, actor=self.agent
            )
        elif self.how == "block":
            run.iam.block_agent(self.agent, by="iam-admin", reason="agent blocked by an admin")
        else:
            run.iam.set_user_active(self.user, False, by="iam-admin")

    def describe(self) -> str:
        return {
            "withdraw": f"{self.user} withdraws consent for {self.agent}",
            "block": f"an admin blocks {self.agent}",
            "disable": f"an admin disables {self.user}",
        }[self.how]


@dataclass
class AppToken(Step):
    """The attacker gets the booking backend's App token (its secret is in its config)."""

    service: str
    name: str = "app"
    client: str = "booking-backend"
    attacker: bool = True

    async def run(self, run: Run) -> None:
        if run.baseline:
            return  # the shared key is all there is
        response = await run.dep.oauth.app_token(
            run.dep.app(self.client), resource=run.dep.resource(self.service)
        )
        run.loot[self.name] = {"token": response["access_token"], "key": None}

    def describe(self) -> str:
        return f"attacker obtains {self.client}'s App token for {self.service}"


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
class TamperAudit(Step):
    """The attacker who holds the database file (not the audit keys) edits the log:
    ``edit`` one entry, ``delete`` one, or ``rewrite`` it and re-chain every later hash."""

    how: str
    attacker: bool = True
    breaks_audit = True  # the chain must not verify afterwards: that is the point

    async def run(self, run: Run) -> None:
        rows = run.iam.store.all("SELECT seq, body FROM audit_entries ORDER BY seq")
        target = next(
            (r for r in rows if '"outcome":"allowed"' in r[1] and r[0] > run.first_seq), rows[-1]
        )
        seq = target[0]
        tamper_audit_log(run.iam.store, seq, self.how)
        run.loot["tampered_seq"] = seq

    def describe(self) -> str:
        return f"attacker {self.how}s the audit log in the database"


def tamper_audit_log(store: Store, seq: int, how: str) -> None:
    """What someone holding the database file (not the audit keys) can do to entry ``seq``.

    ``edit``: its outcome "allowed" now reads "denied"; ``delete``: it is gone; ``rewrite``:
    the edit, then every later entry re-linked and every hash recomputed, so that the chain
    itself is consistent again — only the signed checkpoints and the head seal can tell.
    The append-only triggers are dropped first, as the file's holder can.
    """
    if how not in ("edit", "delete", "rewrite"):
        raise ValueError(f"how must be edit, delete or rewrite, not {how!r}")
    for (name,) in store.all("SELECT name FROM sqlite_master WHERE type = 'trigger'"):
        store.execute(f'DROP TRIGGER "{name}"')
    row = store.one("SELECT body FROM audit_entries WHERE seq = ?", (seq,))
    if row is None:
        raise KeyError(f"no audit entry {seq}")
    body = row[0].replace('"outcome":"allowed"', '"outcome":"denied"', 1)
    if how == "delete":
        store.execute("DELETE FROM audit_entries WHERE seq = ?", (seq,))
        return
    # The queried outcome column too: verify re-derives it from the body (docs/attacks.md).
    outcome = json.loads(body)["outcome"]
    store.execute(
        "UPDATE audit_entries SET body = ?, outcome = ? WHERE seq = ?", (body, outcome, seq)
    )
    if how == "rewrite":
        # Re-link every entry from the edited one on: bodies name their predecessor's
        # hash, so each is rewritten too. Only the keys the attacker lacks can tell.
        prev = GENESIS_HASH
        rows = store.all("SELECT seq, body FROM audit_entries ORDER BY seq")
        for row_seq, row_body in rows:
            if row_seq >= seq:
                doc = json.loads(row_body)
                doc["prev_hash"] = prev
                row_body = rfc8785.dumps(doc).decode()
                store.execute(
                    "UPDATE audit_entries SET body = ? WHERE seq = ?", (row_body, row_seq)
                )
            prev = chain_hash(prev, row_body.encode())
            store.execute("UPDATE audit_entries SET hash = ? WHERE seq = ?", (prev, row_seq))


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
