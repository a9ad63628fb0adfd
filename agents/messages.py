"""Agent-to-agent messages, signed by the sending agent's key and verified on receipt.

A message is a compact JWS (ES256, the sender's private_key_jwt key, ``typ:
agent-msg+jwt``) with ``iss`` (sender), ``aud`` (receiver), ``iat``/``exp``, a ``jti`` seen
once, the task text, the user it is for and, when authority travels with it, the ``jti`` of
the hand-off grant it belongs to. A message itself carries no authority: the receiver acts
only with tokens its identity component obtains by exchange (RFC 8693).

Verification pins the algorithm and the sender's registered public key; anything else — no
signature, another key, ``alg: none``, an expired or replayed message, another receiver —
is rejected with the reason, and the receiving agent's model never sees it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from agents.clock import WALL_CLOCK, Clock
from agents.json_limits import JSONRefused, jws_parts
from agents.oauth import AgentCredentials

MESSAGE_TYPE = "agent-msg+jwt"
LIFETIME = 120


class MessageRejected(Exception):
    """A message failed verification; ``str()`` is the reason."""


@dataclass(frozen=True, slots=True)
class AgentMessage:
    sender: str
    receiver: str
    user: str
    task: str
    grant_jti: str | None
    jti: str


def sign_message(
    sender: AgentCredentials,
    receiver: str,
    *,
    user: str,
    task: str,
    grant_jti: str | None = None,
    now: Callable[[], float] = time.time,
) -> str:
    issued = int(now())
    claims: dict[str, Any] = {
        "iss": sender.agent_id,
        "aud": receiver,
        "iat": issued,
        "exp": issued + LIFETIME,
        "jti": secrets.token_urlsafe(16),
        "user": user,
        "task": task,
    }
    if grant_jti is not None:
        claims["grant_jti"] = grant_jti
    headers = {"kid": sender.kid, "typ": MESSAGE_TYPE}
    return jwt.encode(claims, sender.private_key, algorithm="ES256", headers=headers)


class MessageVerifier:
    """Verifies messages addressed to ``receiver`` against the senders' public keys."""

    def __init__(
        self,
        receiver: str,
        public_key_of: Callable[[str], ec.EllipticCurvePublicKey | None],
        *,
        clock: Clock = WALL_CLOCK,
    ) -> None:
        self.receiver = receiver
        self._public_key_of = public_key_of
        self._clock = clock
        self._seen: dict[str, float] = {}

    def reset_state(self) -> None:
        self._seen.clear()  # messages of the last run

    def verify(self, message: str) -> AgentMessage:
        try:  # the bounded parser first: PyJWT never sees a deeply nested message
            header, unverified = jws_parts(message)
        except JSONRefused as exc:
            raise MessageRejected(f"not a signed message: {exc}") from exc
        if header.get("typ") != MESSAGE_TYPE or header.get("alg") != "ES256":
            raise MessageRejected("wrong message type or algorithm (only ES256 is accepted)")
        sender = unverified.get("iss")
        key = self._public_key_of(sender) if isinstance(sender, str) else None
        if key is None:
            raise MessageRejected(f"unknown sender {str(sender)[:64]!r}")
        try:
            claims: Mapping[str, Any] = jwt.decode(
                message,
                key,
                algorithms=["ES256"],
                audience=self.receiver,
                options={"require": ["iss", "aud", "iat", "exp", "jti"]},
                leeway=5,
            )
        except jwt.PyJWTError as exc:
            raise MessageRejected(f"signature or claims rejected: {exc}") from exc
        jti = str(claims["jti"])
        now = self._clock.now()
        self._seen = {j: t for j, t in self._seen.items() if t > now}
        if jti in self._seen:
            raise MessageRejected("message replayed (jti already seen)")
        self._seen[jti] = float(claims["exp"])
        task, user = claims.get("task"), claims.get("user")
        if not isinstance(task, str) or not isinstance(user, str):
            raise MessageRejected("the message names no task or user")
        grant = claims.get("grant_jti")
        return AgentMessage(str(sender), self.receiver, user, task, grant, jti)
