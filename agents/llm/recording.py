"""The recording format: one run's model exchanges, in one JSON Lines file (RFC 8259 lines).

Line 1 is the header; every further line is one exchange, in the order the agents made
them::

    {"format": "agent-iam-model-recording", "version": 1, "model": "qwen3:8b",
     "stream": false, "endpoint": "http://localhost:11434/v1", "run": {…}}
    {"n": 1, "request": {"method": "POST", "path": "/chat/completions", "body": {…}},
     "response": {"status": 200, "body": {…}}}

* ``model`` and ``stream`` are what the recorded run asked for; a replay asks the same.
* ``endpoint`` is where the model was served (``embedded`` for the in-process model) —
  scheme, host, port and path only, never a user name, password or query.
* ``run`` says which run this was (``chat``: agent, user, request; ``run``: the run id,
  profile, threat model and seed), so a replay can refuse the wrong file up front.
* ``request.path`` is relative to the endpoint (``/chat/completions``), so a recording made
  against any server replays without one. ``body`` is the JSON the agent sent — the
  messages, the tools — and the JSON the model answered (a streamed answer: its
  ``text/event-stream`` text). No header is kept: an API key never reaches the file.

A file that cannot be read, is not JSON Lines, lacks the header or has a line of the wrong
shape is refused by :func:`read_recording` with a :class:`RecordingError` naming the file,
the line and what is wrong. ``version`` grows when the shape changes; older readers refuse a
newer file rather than misread it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

FORMAT = "agent-iam-model-recording"
VERSION = 1


class RecordingError(Exception):
    """A recording file that is missing, unreadable or not in this format."""


@dataclass(frozen=True)
class Exchange:
    """One request the agents sent the model, and its answer."""

    n: int
    method: str
    path: str
    body: Any
    status: int
    answer: Any

    def to_json(self) -> dict[str, Any]:
        return {
            "n": self.n,
            "request": {"method": self.method, "path": self.path, "body": self.body},
            "response": {"status": self.status, "body": self.answer},
        }


@dataclass(frozen=True)
class Recording:
    path: Path
    header: dict[str, Any]
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def model(self) -> str:
        return str(self.header["model"])

    @property
    def stream(self) -> bool:
        return bool(self.header.get("stream", False))

    @property
    def run(self) -> dict[str, Any]:
        run = self.header.get("run")
        return run if isinstance(run, dict) else {}


def public_endpoint(base_url: str | None) -> str:
    """Where the model was served, without credentials or query (for the header)."""
    if base_url is None:
        return "embedded"
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))


def header(model: str, *, stream: bool, endpoint: str, run: dict[str, Any]) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": model,
        "stream": stream,
        "endpoint": endpoint,
        "run": run,
    }


class RecordingWriter:
    """Writes a recording line by line, flushed at once: a run that dies mid-way still
    leaves a readable file of what it asked so far."""

    def __init__(self, path: Path, head: dict[str, Any]) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._out: TextIO | None = self.path.open("w", encoding="utf-8")
        self.count = 0
        self._write(head)

    def add(self, method: str, path: str, body: Any, status: int, answer: Any) -> None:
        self.count += 1
        self._write(Exchange(self.count, method, path, body, status, answer).to_json())

    def _write(self, line: dict[str, Any]) -> None:
        assert self._out is not None, "the recording was closed"
        self._out.write(json.dumps(line, ensure_ascii=False) + "\n")
        self._out.flush()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


def read_recording(path: Path) -> Recording:
    """The recording at ``path``, or :class:`RecordingError` saying precisely what is wrong."""
    path = Path(path)
    if not path.exists():
        raise RecordingError(f"recording {path} does not exist")
    if not path.is_file():
        raise RecordingError(f"recording {path} is not a file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise RecordingError(f"recording {path} is not UTF-8 text: {exc.reason}") from None
    except OSError as exc:
        raise RecordingError(f"recording {path} cannot be read: {exc.strerror}") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not lines:
        raise RecordingError(f"recording {path} is empty (no header line)")
    rows = [(n, _json_line(path, n, line)) for n, line in lines]
    head = _check_header(path, rows[0][1])
    exchanges = [_exchange(path, n, row, expected) for expected, (n, row) in enumerate(rows[1:], 1)]
    return Recording(path, head, exchanges)


def _json_line(path: Path, n: int, line: str) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except ValueError as exc:
        raise RecordingError(f"recording {path}, line {n}: not JSON ({exc})") from None
    if not isinstance(row, dict):
        raise RecordingError(f"recording {path}, line {n}: not a JSON object")
    return row


def _check_header(path: Path, head: dict[str, Any]) -> dict[str, Any]:
    if head.get("format") != FORMAT:
        if "request" in head and "response" in head:
            raise RecordingError(
                f"recording {path}: line 1 is an exchange, not the header — an unversioned "
                f"recording from before format version {VERSION}; record it again"
            )
        raise RecordingError(f"recording {path}, line 1: not a header of {FORMAT!r}")
    version = head.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordingError(f"recording {path}, line 1: version is not a number")
    if version != VERSION:
        raise RecordingError(
            f"recording {path}: format version {version}; this agent-iam reads version {VERSION}"
        )
    if not isinstance(head.get("model"), str) or not head["model"]:
        raise RecordingError(f"recording {path}, line 1: no model name")
    if not isinstance(head.get("stream", False), bool):
        raise RecordingError(f"recording {path}, line 1: stream is not true or false")
    return head


def _exchange(path: Path, n: int, row: dict[str, Any], expected: int) -> Exchange:
    where = f"recording {path}, line {n}"
    request, response = row.get("request"), row.get("response")
    if not isinstance(request, dict) or not isinstance(response, dict):
        raise RecordingError(f"{where}: an exchange needs a request and a response object")
    if row.get("n") != expected:
        raise RecordingError(f"{where}: exchange number {row.get('n')!r}, expected {expected}")
    method, route, status = request.get("method"), request.get("path"), response.get("status")
    if not isinstance(method, str) or not isinstance(route, str) or not route.startswith("/"):
        raise RecordingError(f"{where}: the request needs a method and a path starting with /")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise RecordingError(f"{where}: the response status {status!r} is not an HTTP status")
    if "body" not in request or "body" not in response:
        raise RecordingError(f"{where}: the request and the response each need a body")
    return Exchange(expected, method, route, request["body"], status, response["body"])
