"""``POST /token`` on the hot path: answered straight from ASGI, outside the framework's layers.

A token costs two ECDSA operations, a few statements in one transaction and an audit entry;
the layers around the route (FastAPI's telemetry and body limit, our body limit and trace
context, the exception middleware, routing, ``Request`` objects) cost about a fifth as much
again (profiled with py-spy under ``agent-iam bench iam``). :class:`IAMApp` therefore answers a
well-formed ``POST /token`` itself, with the same checks and the same code:

* the body limit from ``Content-Length``: a request without one, with several, or over the
  limit takes the regular path, whose :class:`~iam_core.limits.BodyLimit` refuses and audits
  it; the form parser of every other endpoint; then :meth:`TokenRoute.answer`, the very code the
  regular route runs (RFC 6749 §3.2, RFC 9449 §5 for a DPoP proof);
* the trace context of :class:`~iam_core.trace.TraceContextMiddleware`: the trace id of a
  valid ``traceparent`` or a new one, in the variable the audit log reads, echoed on the
  response;
* only successes are answered here. A request that fails goes on along the regular path with
  its body and its trace id, and the route raises the same exception there (``scope[REPLAY]``),
  so every refusal is answered and audited by the same handlers as before. Nothing runs twice:
  the token endpoint audited a refusal once already, and marked it so (``exc.audited``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import orjson
from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from iam_core.dpop import DPoPNonces, DPoPVerifier, NonceRequired
from iam_core.errors import InvalidDPoPProof, InvalidRequest, TokenError, UseDPoPNonce
from iam_core.grants import TokenEndpoint
from iam_core.http import MAX_FORM_BYTES, NO_STORE, is_form, parse_form
from iam_core.trace import current_trace_id, make_traceparent, new_trace_id, parse_traceparent

# The exception a failed fast-path request is to raise on the regular path (an ASGI scope
# extension key, namespaced as the spec asks).
REPLAY = "agent_iam.token_error"
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class TokenRoute:
    """What ``POST /token`` does once its form is read, for both paths."""

    def __init__(
        self, tokens: TokenEndpoint, dpop: DPoPVerifier, nonces: DPoPNonces, url: str
    ) -> None:
        self._tokens = tokens
        self._dpop = dpop
        self._nonces = nonces
        self._url = url

    def answer(
        self, form: Mapping[str, str], authorization: str | None, dpop_headers: list[str]
    ) -> dict[str, Any]:
        """The RFC 6749 §5.1 response body; raises OAuthError (audited by the endpoint)."""
        proof = None
        if len(dpop_headers) > 1:
            raise InvalidDPoPProof("one DPoP header at most")
        if dpop_headers:
            # Checked before client authentication, recorded only after it (TokenEndpoint):
            # an unauthenticated client adds nothing to the replay store.
            try:
                proof = self._dpop.verify(
                    dpop_headers[0], method="POST", url=self._url, record=False
                )
            except NonceRequired as exc:
                raise UseDPoPNonce(str(exc)) from exc
            except TokenError as exc:
                raise InvalidDPoPProof(str(exc)) from exc
        return self._tokens.handle(form, authorization, proof)

    def headers(self) -> dict[str, str]:
        """Headers of a token response: no caching (RFC 6749 §5.1), the DPoP nonce (§8)."""
        return {**NO_STORE, "DPoP-Nonce": self._nonces.current()}

    async def serve(self, scope: Scope, receive: Receive, send: Send, regular: ASGIApp) -> None:
        """Answer a ``POST /token``; anything but a plain success goes to ``regular``."""
        lengths: list[bytes] = []
        content_type = ""
        authorization: str | None = None
        dpop: list[str] = []
        incoming: str | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                lengths.append(value)
            elif name == b"content-type" and not content_type:
                content_type = value.decode("latin-1")
            elif name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"dpop":
                dpop.append(value.decode("latin-1"))
            elif name == b"traceparent" and incoming is None:
                incoming = value.decode("latin-1")
        if len(lengths) != 1 or not lengths[0].isdigit() or int(lengths[0]) > MAX_FORM_BYTES:
            await regular(scope, receive, send)  # BodyLimit answers (and audits) these
            return
        body = await _read(receive)
        if body is None:
            return  # the client went away
        trace_id = parse_traceparent(incoming) or new_trace_id()
        reset = current_trace_id.set(trace_id)
        try:
            if not is_form(content_type):
                raise InvalidRequest("the body must be application/x-www-form-urlencoded")
            answer = self.answer(parse_form(body), authorization, dpop)
            headers = self.headers()
        except Exception as exc:  # noqa: BLE001 -- answered by the regular path's handlers
            failure: Exception | None = exc
        else:
            failure = None
        finally:
            current_trace_id.reset(reset)
        if failure is not None:
            await regular(_replayed(scope, trace_id, failure), _replay(body, receive), send)
            return
        content = orjson.dumps(answer)
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        raw += [
            (b"content-length", str(len(content)).encode()),
            (b"content-type", b"application/json"),
            (b"traceparent", make_traceparent(trace_id).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": raw})
        await send({"type": "http.response.body", "body": content})


class IAMApp(FastAPI):
    """The IAM's FastAPI app, with ``POST /token`` answered by :class:`TokenRoute` first."""

    token_route: TokenRoute | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self.token_route
        if (
            route is not None
            and scope["type"] == "http"
            and scope["path"] == "/token"
            and scope["method"] == "POST"
        ):
            await route.serve(scope, receive, send, super().__call__)
            return
        await super().__call__(scope, receive, send)


async def _read(receive: Receive) -> bytes | None:
    """The whole request body (the server holds it to ``Content-Length``); None on a
    disconnect."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replayed(scope: Scope, trace_id: str, failure: Exception) -> Scope:
    """The request's scope for the regular path: the failure to raise, and the trace id the
    refusal was audited under (so that the response names the same trace)."""
    headers = [(k, v) for k, v in scope["headers"] if k != b"traceparent"]
    headers.append((b"traceparent", make_traceparent(trace_id).encode()))
    return {**scope, "headers": headers, REPLAY: failure}


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the body already read over once, then the client's own."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay
