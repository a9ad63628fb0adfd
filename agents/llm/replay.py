"""Record a model's traffic to JSONL, and replay it offline, exactly.

Both are transports of the HTTP client the ``openai`` package uses, so the real client and
the real protocol run in both cases; only the bytes of the answers come from the file. Each
line holds one exchange: the request's method, path and JSON body, and the response's status
and JSON body. Headers are not kept: the API key never reaches the file.

Replay is strict: the n-th request must equal the n-th recorded one (same path, same JSON
body), or the replay stops with :class:`ReplayDiverged` — a run that asks something else
than the recorded run did is not a replay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2


class ReplayDiverged(Exception):
    """The conversation asked the model something the recording does not hold."""


def _body(content: bytes) -> Any:
    try:
        return json.loads(content) if content else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        return content.decode("utf-8", "replace")


class RecordingTransport(httpx2.AsyncBaseTransport):
    """Passes every request to ``inner`` and appends the exchange to ``path``."""

    def __init__(self, inner: httpx2.AsyncBaseTransport, path: Path) -> None:
        self._inner = inner
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text("")

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        body = await request.aread()
        response = await self._inner.handle_async_request(request)
        content = await response.aread()
        line = {
            "request": {"method": request.method, "path": request.url.path, "body": _body(body)},
            "response": {"status": response.status_code, "body": _body(content)},
        }
        with self._path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")
        return httpx2.Response(
            response.status_code,
            headers={"content-type": response.headers.get("content-type", "application/json")},
            content=content,
            request=request,
        )

    async def aclose(self) -> None:
        await self._inner.aclose()


class ReplayTransport(httpx2.AsyncBaseTransport):
    """Answers each request with the next recorded response, if the request matches."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        try:
            lines = self._path.read_text(encoding="utf-8").splitlines()
            self._records = [json.loads(line) for line in lines if line.strip()]
        except (OSError, json.JSONDecodeError) as exc:
            raise ReplayDiverged(f"cannot read the recording {self._path}: {exc}") from exc
        self._next = 0

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        n = self._next
        if n >= len(self._records):
            raise ReplayDiverged(f"request {n + 1} is beyond the {len(self._records)} recorded")
        recorded = self._records[n]["request"]
        asked = {"method": request.method, "path": request.url.path}
        asked["body"] = _body(await request.aread())
        # The path's prefix depends on where the model was served; the endpoint must match.
        same_endpoint = asked["path"].endswith(recorded["path"].rsplit("/v1", 1)[-1])
        if asked["method"] != recorded["method"] or not same_endpoint:
            raise ReplayDiverged(f"request {n + 1}: {asked['path']} is not {recorded['path']}")
        if asked["body"] != recorded["body"]:
            raise ReplayDiverged(f"request {n + 1} differs from the recorded request")
        self._next += 1
        response = self._records[n]["response"]
        body = response["body"]
        if isinstance(body, str) and body.startswith("data:"):  # a streamed completion's events
            kind, content = "text/event-stream", body.encode()
        else:
            kind, content = "application/json", json.dumps(body).encode()
        return httpx2.Response(
            int(response["status"]),
            headers={"content-type": kind},
            content=content,
            request=request,
        )
