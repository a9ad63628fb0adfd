"""An agent runtime: one assistant, its identity, its model, and its conversations.

``run`` serves a person's request (the person logs in and consents through the app when the
request needs delegated authority); ``receive`` serves a task handed off by another agent —
a signed message, verified first, plus a hand-off grant the identity component exchanges.
Each conversation is one W3C trace: every request it causes carries its ``traceparent``, so
the audit entries it produced can be found by trace id.

The transcript (:class:`Conversation`) holds what was said, each tool call, the identity
and token type used, and each decision — never a token, a password or a secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric import ec

from agents.approval import Notify, Sleep, seeker
from agents.assistants import AssistantSpec
from agents.clock import WALL_CLOCK, Clock
from agents.consent_page import Human, consent_details, quote
from agents.graph import Turn, build_graph
from agents.identity import AgentIdentity, NoAuthority, Presenter, TokenUse
from agents.llm.client import ChatModel
from agents.messages import MessageRejected, MessageVerifier, sign_message
from agents.oauth import (
    AgentCredentials,
    AppCredentials,
    OAuthClient,
    OAuthClientError,
    decode_unverified,
)
from agents.ordinary import ServiceAccountIdentity, SharedKeyIdentity, UserTokenIdentity
from agents.tools import ToolBox, scrub


@dataclass
class Conversation:
    agent: str
    user: str | None
    request: str
    trace_id: str
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    failed: str | None = None  # why the run could not complete, None when it did
    crashed: bool = False  # it failed on an error (model, graph), not on an IAM refusal
    seconds: dict[str, float] = field(default_factory=dict)
    handoffs: list[Conversation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failed is None

    def tool_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if "tool" in e]

    def texts(self) -> Iterator[str]:
        """Every text of the transcript, the model's context and the hand-offs (leak checks)."""
        yield json.dumps(self.messages)
        yield json.dumps(self.events, default=str)
        yield self.answer
        for other in self.handoffs:
            yield from other.texts()


class AgentRuntime:
    def __init__(
        self,
        spec: AssistantSpec,
        *,
        transport: httpx.AsyncBaseTransport,
        issuer: str,
        credentials: AgentCredentials,
        model: ChatModel,
        app: AppCredentials,
        redirect_uri: str,
        public_key_of: Callable[[str], ec.EllipticCurvePublicKey | None],
        peers: Mapping[str, AgentRuntime] | None = None,
        shared_key: str | None = None,
        service_account: AppCredentials | None = None,
        user_token_scopes: Callable[[str], str] | None = None,
        clock: Clock = WALL_CLOCK,
        notify: Notify | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        """How the agent holds authority depends on the deployment profile (docs/design.md):
        by default, agent IAM (``AgentIdentity``). ``shared_key``: one API key held by the
        tools (never in the prompt), the user from the app's session in ``X-User``.
        ``user_token_scopes`` (service → scopes): the app hands the agent the user's own
        tokens. ``service_account``: the agent is that OAuth client, naming the user.
        The last three verify no messages (there is no agent key to verify them with).
        ``clock`` is the time the runtime signs with and expires its cached tokens by.
        ``notify`` reaches a person's authentication device when an approval is asked for
        (in process: the scenarios' simulated people); ``sleep`` waits between CIBA polls."""
        self.clock = clock
        self.notify = notify
        self.sleep = sleep
        self.spec = spec
        self.credentials = credentials
        self.agent_id = spec.agent_id
        self.issuer = issuer.rstrip("/")
        self.model = model
        self.app = app
        self.redirect_uri = redirect_uri
        self.peers = peers if peers is not None else {}  # filled as the crew is built
        self._transport = transport
        self.http = httpx.AsyncClient(transport=transport, base_url=self.issuer, timeout=30.0)
        oauth = OAuthClient(self.http, self.issuer, clock=clock)
        self.identity: Presenter
        if shared_key is not None:
            self.identity = SharedKeyIdentity(self.agent_id, credentials, shared_key)
        elif user_token_scopes is not None:
            self.identity = UserTokenIdentity(
                self.agent_id, oauth, app, redirect_uri, self.url, user_token_scopes
            )
        elif service_account is not None:
            self.identity = ServiceAccountIdentity(self.agent_id, oauth, service_account, self.url)
        else:
            self.identity = AgentIdentity(oauth, credentials, self.url)
        # Without agent IAM there is no delegation per task: the agent acts on what it holds.
        self.baseline = not isinstance(self.identity, AgentIdentity)
        self.system = spec.system
        self.verifier = MessageVerifier(self.agent_id, public_key_of, clock=clock)
        # Compiled once per runtime (with and without the delegation step), not per run.
        self._graphs = {True: build_graph(True), False: build_graph(False)}

    def reset_state(self) -> None:
        """Between runs of a reused stack: no task, trace or cached token survives (the
        identity, DPoP key and message verifier reset their own; iam_core/state_reset.py)."""
        self.http.headers.pop("traceparent", None)
        self.http.cookies.clear()

    def url(self, service: str) -> str:
        return self.issuer if service == "iam" else f"{self.issuer}/hotel/{service}"

    async def aclose(self) -> None:
        await self.http.aclose()

    # -- conversations --------------------------------------------------------------------
    async def run(
        self,
        request: str,
        *,
        human: Human | None = None,
        principal: str | None = None,
        claimed: str | None = None,
        end_task: bool = True,
        trace_id: str | None = None,
        task: str | None = None,
    ) -> Conversation:
        """Serve a request.

        ``human``: a person who logs in and consents to what the request needs. ``principal``:
        continue a task under a delegation this agent already holds (no new consent).
        Neither: the agent acts on its own authority. ``claimed``: who the person says they
        are in the chat — only the baseline believes it. ``end_task``: revoke the task's
        tokens when the conversation ends (keep them to continue the task later). ``task``:
        the task token the front door opened for this request (agents/front_door.py).
        """
        if isinstance(self.identity, AgentIdentity):
            self.identity.begin_task(task)
        user = human.user_id if human else principal
        convo = Conversation(self.agent_id, user, request, self._trace(trace_id))
        asked = getattr(self.notify, "asked", None)
        if human is not None and asked is not None:
            asked(human.user_id, request)  # a simulated person remembers what she asked
        authorize = None
        if self.baseline:
            # The user is the app's session user (never whom the chat claims to be).
            principal = user
            if human is not None and isinstance(self.identity, UserTokenIdentity):
                await self._user_login(human, convo)
        elif human is not None:
            principal = human.user_id

            async def authorize(args: Mapping[str, Any]) -> dict[str, Any]:
                return await self._delegate(human, args, convo)

        await self._converse(convo, request, principal, authorize)
        if end_task and principal is not None and not self.baseline:
            await self.end_task(principal)
        return convo

    async def end_task(self, principal: str) -> None:
        # Already revoked (consent withdrawn, agent blocked, …) is as good as revoked now.
        with contextlib.suppress(OAuthClientError):
            await self.identity.end_task(principal)

    async def receive(self, message: str, grant: str | None, *, trace_id: str) -> Conversation:
        """Serve a task handed off by another agent: verify, take the grant, act within it."""
        convo = Conversation(self.agent_id, None, "(signed message)", self._trace(trace_id))
        self.http.headers["traceparent"] = _traceparent(convo.trace_id)
        self.identity.acquired = convo.events  # the hand-off exchange belongs to this task
        if isinstance(self.identity, AgentIdentity):
            self.identity.begin_task(None)  # a hand-off acts on its grant, in no task of its own
        if self.baseline:
            return await self._receive_unverified(convo, message)
        try:
            task = self.verifier.verify(message)
        except MessageRejected as exc:
            convo.events.append({"kind": "message", "outcome": "rejected", "reason": str(exc)})
            convo.failed = f"message rejected: {exc}"
            await self._report("message_rejected", str(exc), message)
            return convo
        convo.user = task.user
        convo.events.append({"kind": "message", "outcome": "verified", "from": task.sender})
        principal: str | None = None
        if grant is not None:
            try:
                if TokenUse.of(grant).jti != task.grant_jti:
                    raise MessageRejected("the grant is not the one the message names")
                assert isinstance(self.identity, AgentIdentity)  # the baseline returned above
                use = await self.identity.accept_handoff(grant, service="concierge")
                principal = self.identity.principal_key(use)
            except (MessageRejected, OAuthClientError) as exc:
                reason = getattr(exc, "description", None) or str(exc)
                convo.events.append({"kind": "handoff", "outcome": "refused", "reason": reason})
                convo.failed = f"hand-off refused: {reason}"
                await self._report("handoff_refused", reason, message)
                return convo
        text = f"Task from {task.sender} (signature verified) for guest {task.user}: {task.task}"
        convo.request = text
        await self._converse(convo, text, principal, None)
        if principal is not None:
            await self.end_task(principal)
        return convo

    async def _report(self, event: str, reason: str, message: str) -> None:
        if isinstance(self.identity, AgentIdentity):
            try:
                sender = str(decode_unverified(message).get("iss", ""))[:64]
            except Exception:  # noqa: BLE001 — an unreadable message has no claimed sender
                sender = ""
            await self.identity.report(event, reason, f"claimed {sender}" if sender else None)

    async def _receive_unverified(self, convo: Conversation, message: str) -> Conversation:
        """The baseline takes a message at its word: whoever it claims to be from."""
        try:
            claims = decode_unverified(message)
        except Exception:  # noqa: BLE001 — not even a JWT: still just text to the baseline
            claims = {"iss": "unknown", "user": "", "task": message}
        convo.user = str(claims.get("user", ""))
        convo.events.append({"kind": "message", "outcome": "accepted unverified"})
        text = f"Task from {claims.get('iss')} for guest {convo.user}: {claims.get('task', '')}"
        convo.request = text
        await self._converse(convo, text, convo.user or None, None)
        return convo

    async def _converse(
        self, convo: Conversation, request: str, principal: str | None, authorize: Any
    ) -> None:
        started = time.perf_counter()
        before = (self.model.seconds, self.identity.seconds)
        self.http.headers["traceparent"] = _traceparent(convo.trace_id)
        self.identity.acquired = convo.events
        local = {}
        if self.spec.handoff_to and self.spec.handoff_to in self.peers:

            async def handoff(args: Mapping[str, Any]) -> dict[str, Any]:
                return await self._handoff(convo, principal, str(args.get("task", "")))

            local["handoff_to_staff"] = handoff
        tools = ToolBox(
            self.http,
            self.identity,
            self.url,
            self.spec.tools,
            principal=principal,
            local=local,
            seek=seeker(self.identity, convo.events, self.notify, self.sleep)
            if isinstance(self.identity, AgentIdentity)
            else None,
        )
        tools.events = convo.events
        turn = Turn(self.model, tools, authorize, convo.events)
        convo.events.append({"kind": "user", "text": request})
        messages = [{"role": "system", "content": self.system}]
        messages.append({"role": "user", "content": request})
        try:
            graph = self._graphs[authorize is not None]
            state = await graph.ainvoke({"messages": messages}, config=turn.config())
            convo.messages = state["messages"]
            convo.answer = scrub(str(convo.messages[-1].get("content") or ""))
        except Exception as exc:  # noqa: BLE001 — a failed run is reported, never a traceback
            convo.failed = scrub(f"{type(exc).__name__}: {exc}")
            convo.crashed = True
        finally:
            total = time.perf_counter() - started
            convo.seconds = {
                "total": total,
                "model": self.model.seconds - before[0],
                "tokens": self.identity.seconds - before[1],
                "http": tools.seconds,
            }

    async def _user_login(self, human: Human, convo: Conversation) -> None:
        """user-token profile: the app logs the user in and hands over their tokens."""
        assert isinstance(self.identity, UserTokenIdentity)
        self.identity.acquired = convo.events
        try:
            await self.identity.login(human.user_id, human.password, human.approve({}))
        except OAuthClientError as exc:
            convo.events.append(
                {"kind": "authorization", "outcome": "refused", "reason": exc.description}
            )

    # -- delegation and hand-off ----------------------------------------------------------
    async def _delegate(
        self, human: Human, args: Mapping[str, Any], convo: Conversation
    ) -> dict[str, Any]:
        """The person consents to exactly what the request needs; the agent redeems the code."""
        scopes = [s for s in args.get("scopes") or () if isinstance(s, str)]
        search = f"{self.url('availability')}/search"
        details = await consent_details(args, lambda s: quote(self.identity, self.http, search, s))
        page = {"agent": self.agent_id, "scopes": scopes, "authorization_details": details}
        event: dict[str, Any] = {"kind": "authorization", "user": human.user_id, **page}
        convo.events.append(event)
        browser = httpx.AsyncClient(
            transport=self._transport,
            base_url=self.issuer,
            headers={"traceparent": _traceparent(convo.trace_id)},
        )
        try:
            async with browser:
                code, verifier = await human.consent(
                    OAuthClient(browser, self.issuer, clock=self.clock),
                    self.app,
                    self.redirect_uri,
                    page,
                )
            service = next((s.split(":")[0] for s in scopes if "availability" not in s), None)
            assert isinstance(self.identity, AgentIdentity)  # only IAM mode delegates
            use = await self.identity.accept_delegation(
                self.app,
                code,
                verifier,
                redirect_uri=self.redirect_uri,
                service=service or "availability",
            )
        except OAuthClientError as exc:
            event.update(outcome="refused", reason=exc.description or exc.error)
            return {
                "ok": False,
                "error": {"error": exc.error, "error_description": exc.description},
            }
        event.update(outcome="approved", token=use.describe())
        return {"ok": True, "data": {"scopes": scopes, "authorization_details": details}}

    async def _handoff(
        self, convo: Conversation, principal: str | None, task: str
    ) -> dict[str, Any]:
        peer = self.peers[str(self.spec.handoff_to)]
        grant = grant_jti = None
        if principal is not None and isinstance(self.identity, AgentIdentity):
            try:
                grant, grant_jti = await self.identity.handoff_grant(
                    principal, peer.agent_id, "concierge:request"
                )
            except (NoAuthority, OAuthClientError) as exc:
                reason = getattr(exc, "description", None) or str(exc)
                return {"ok": False, "error": {"error_description": reason}}
        mine, theirs = self.identity, peer.identity
        if (
            principal is not None
            and isinstance(mine, UserTokenIdentity)
            and isinstance(theirs, UserTokenIdentity)
        ):
            mine.forward(theirs, principal)  # the user's tokens go along
        message = sign_message(
            self.credentials,
            peer.agent_id,
            user=convo.user or "",
            task=task,
            grant_jti=grant_jti,
            now=self.clock.now,
        )
        other = await peer.receive(message, grant, trace_id=convo.trace_id)
        convo.handoffs.append(other)
        # Back to this conversation's trace (the peer's client had its own).
        self.http.headers["traceparent"] = _traceparent(convo.trace_id)
        # What the peer did, as structured data: its free-text answer stays in its transcript.
        steps = [{"tool": e["tool"], "outcome": e["outcome"]} for e in other.tool_events()]
        done = [s for s in steps if s["outcome"] == "allowed"]
        return {"ok": other.ok and bool(done), "data": {"agent": peer.agent_id, "steps": steps}}

    @staticmethod
    def _trace(trace_id: str | None) -> str:
        return trace_id or secrets.token_hex(16)


def _traceparent(trace_id: str) -> str:
    """W3C Trace Context ``traceparent``: version 00, the trace, a fresh span, sampled."""
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"
