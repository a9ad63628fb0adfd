"""Record a run's model exchanges, and replay them offline, checking the agents ask the same.

What is recorded: the **model exchanges** only — each request the agents send to the
OpenAI-compatible endpoint (``POST /chat/completions``: the messages, the tools) and its
answer (``recording.py`` has the format). The IAM, the services and the people run for real
in the replay too: a replay re-runs the deployment, and only the model's answers come from
the file. So a run made with a real model replays deterministically, offline, with no model
server and no network — the transport never opens a connection.

How a replay checks: the n-th request must equal the n-th recorded one after
:func:`~agents.llm.normalise.normalise` (time-dependent fields such as ``created_at``,
``iat``, ``jti``, ``auth_req_id`` replaced by placeholders). The first request that differs
stops the replay with :class:`ReplayDiverged`, which names the request (its number and what
it was), the field (a JSON path) and both values. A run that asks fewer requests than were
recorded diverges too (:meth:`Player.finish`): a replay is the same run, or it is reported.

Both are transports of the HTTP client the ``openai`` package uses, so the real client and
protocol run in both cases. A :class:`Recorder` or :class:`Player` is a *tape* that can be
switched to another file between runs (``agent-iam run --record/--replay DIR``: one file per
run, one model client per batch of runs).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx2

from agents.llm.normalise import Difference, first_difference
from agents.llm.recording import Exchange, Recording, RecordingWriter, header, read_recording


class ReplayDiverged(Exception):
    """The run asked the model something the recording does not hold.

    ``request`` is the 1-based number of the request, ``what`` describes it, ``difference``
    is the first differing field (None when the run asked more, or fewer, than recorded).
    """

    def __init__(
        self, request: int, what: str, detail: str, difference: Difference | None = None
    ) -> None:
        super().__init__(f"request {request} ({what}) {detail}")
        self.request = request
        self.what = what
        self.difference = difference


def _body(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return content.decode("utf-8", "replace")


def _relative(url_path: str, base_path: str) -> str:
    """The request's path below the endpoint (``/v1/chat/completions`` → ``/chat/completions``)."""
    base = base_path.rstrip("/")
    return url_path[len(base) :] if base and url_path.startswith(base + "/") else url_path


def base_path(base_url: str) -> str:
    return urlsplit(base_url).path


def describe(method: str, path: str, body: Any) -> str:
    """What a model request was, for a person: the endpoint and where the conversation stood."""
    what = f"{method} {path}"
    messages = body.get("messages") if isinstance(body, dict) else None
    if not isinstance(messages, list) or not messages:
        return what
    last = messages[-1] if isinstance(messages[-1], dict) else {}
    role = last.get("role")
    if role == "tool":
        names = {
            call.get("id"): call.get("function", {}).get("name")
            for m in messages
            if isinstance(m, dict)
            for call in m.get("tool_calls") or ()
            if isinstance(call, dict)
        }
        after = f"after the result of {names.get(last.get('tool_call_id'), 'a tool')}"
    elif role == "user":
        after = "the request itself"
    else:
        after = f"after a {role} message"
    return f"{what}, {len(messages)} messages, {after}"


class Recorder:
    """The recording tape: each exchange is appended to the current file."""

    def __init__(self, model: str, *, stream: bool, endpoint: str) -> None:
        self.model = model
        self.stream = stream
        self.endpoint = endpoint
        self._writer: RecordingWriter | None = None

    def start(self, path: Path, run: dict[str, Any]) -> None:
        """Record into ``path`` (overwritten) from now on; ``run`` goes into the header."""
        self.stop()
        head = header(self.model, stream=self.stream, endpoint=self.endpoint, run=run)
        self._writer = RecordingWriter(path, head)

    def stop(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def add(self, method: str, path: str, body: Any, status: int, answer: Any) -> None:
        if self._writer is None:
            raise RuntimeError("a model request outside a recorded run")
        self._writer.add(method, path, body, status, answer)


class Player:
    """The replay tape: answers each request from the current recording, if it matches."""

    def __init__(self) -> None:
        self.recording: Recording | None = None
        self.asked = 0
        self.diverged: ReplayDiverged | None = None

    def load(self, recording: Recording | Path) -> Recording:
        """Play ``recording`` (a file is read, and refused precisely if malformed)."""
        if not isinstance(recording, Recording):
            recording = read_recording(recording)
        self.recording, self.asked, self.diverged = recording, 0, None
        return recording

    def answer(self, method: str, path: str, body: Any) -> Exchange:
        """The recorded exchange for this request, or :class:`ReplayDiverged`."""
        if self.diverged is not None:  # a replay that left the recording stays stopped
            raise self.diverged
        if self.recording is None:
            raise RuntimeError("a model request outside a replayed run")
        self.asked += 1
        n, exchanges = self.asked, self.recording.exchanges
        what = describe(method, path, body)
        if n > len(exchanges):
            self.diverged = ReplayDiverged(
                n, what, f"is beyond the {len(exchanges)} recorded in {self.recording.path}"
            )
            raise self.diverged
        recorded = exchanges[n - 1]
        line = first_difference(
            {"method": recorded.method, "path": recorded.path}, {"method": method, "path": path}
        )
        if line is not None:  # another endpoint: name it as such, not as a body field
            line = Difference(f"the request's {line.path[2:]}", line.recorded, line.asked)
        found = line or first_difference(recorded.body, body)
        if found is not None:
            self.diverged = ReplayDiverged(n, what, f"differs at {found.describe()}", found)
            raise self.diverged
        return recorded

    def finish(self) -> ReplayDiverged | None:
        """The divergence of the run just played, if any — asking fewer requests included."""
        if self.diverged is None and self.recording is not None:
            left = len(self.recording.exchanges) - self.asked
            if left > 0:
                nxt = self.recording.exchanges[self.asked]
                self.diverged = ReplayDiverged(
                    self.asked + 1,
                    describe(nxt.method, nxt.path, nxt.body),
                    f"was recorded but never asked: the run ended after {self.asked} of "
                    f"{len(self.recording.exchanges)} requests",
                )
        return self.diverged


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes every request to ``inner`` and appends the exchange to the recorder's file."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, recorder: Recorder, base: str) -> None:
        self._inner = inner
        self._recorder = recorder
        self._base = base

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        path = _relative(request.url.path, self._base)
        self._recorder.add(request.method, path, _body(body), response.status_code, _body(content))
        return httpx2.Response(
            response.status_code,
            headers={"content-type": response.headers.get("content-type", "application/json")},
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        self._recorder.stop()
        await self._inner.aclose()


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request from the player's recording; never opens a connection."""

    def __init__(self, player: Player, base: str) -> None:
        self._player = player
        self._base = base

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = _body(await request.aread())
        path = _relative(request.url.path, self._base)
        recorded = self._player.answer(request.method, path, body)
        answer = recorded.answer
        if isinstance(answer, str) and answer.startswith("data:"):  # a streamed completion
            kind, content = "text/event-stream", answer.encode()
        else:
            kind, content = "application/json", json.dumps(answer).encode()
        return httpx2.Response(
            recorded.status, headers={"content-type": kind}, content=content, request=request
        )
