"""Every mistake at the command line ends in one line and an exit code, never a traceback.

``guarded`` runs a command and maps the project's error types to a message: 2 for a usage
mistake (a wrong flag, an unknown name, a refused request, a file that is not a usable
model recording), 1 for a failure (an unreachable
server, a corrupt file). Anything unforeseen still ends in one line naming the error type,
and exit 1; ``AGENT_IAM_DEBUG=1`` shows the traceback for whoever debugs the lab itself.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable

import httpx

from agents.llm.recording import RecordingError
from agents.oauth import OAuthClientError
from iam_core.errors import IAMError, OAuthError
from iam_core.store import DATABASE_ERRORS

USAGE = 2
FAILURE = 1


class CLIError(Exception):
    """A mistake the command line explains in one line; ``code`` is the exit code."""

    def __init__(self, message: str, code: int = FAILURE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


class UsageError(CLIError):
    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())[:500]


def explain(exc: BaseException) -> tuple[str, int]:
    """The one-line message and the exit code for an error that ended a command."""
    if isinstance(exc, CLIError):
        return exc.message, exc.code
    if isinstance(exc, RecordingError):  # a file the user named is not a usable recording
        return str(exc), USAGE
    if isinstance(exc, OAuthClientError):
        # A refusal by the IAM or a service: the request was wrong for this caller.
        return f"refused: {exc}", USAGE
    if isinstance(exc, OAuthError):
        return f"refused: {exc.error}: {exc.description}", USAGE
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return f"not a usable URL: {exc}", USAGE
    if isinstance(exc, httpx.TransportError):
        where = _url_of(exc)
        return f"cannot reach {where}: {type(exc).__name__}: {exc or 'no answer'}", FAILURE
    if isinstance(exc, httpx.HTTPError):
        return f"HTTP error: {exc}", FAILURE
    if isinstance(exc, DATABASE_ERRORS):
        return (
            f"the database is unusable ({exc}); check --db, or start afresh with agent-iam reset",
            FAILURE,
        )
    if isinstance(exc, OSError) and exc.strerror:
        name = f"{exc.filename}: " if exc.filename else ""
        return f"{name}{exc.strerror}", FAILURE
    if isinstance(exc, IAMError):
        return f"{type(exc).__name__}: {exc}", FAILURE
    return f"unexpected {type(exc).__name__}: {exc}", FAILURE


def _url_of(exc: httpx.TransportError) -> str:
    try:
        return str(exc.request.url)
    except RuntimeError:  # no request attached
        return "the server"


def guarded(command: Callable[[], int], prog: str = "agent-iam") -> int:
    """Run ``command``; print one line to stderr for any error, and return its exit code."""
    try:
        return command()
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return _quiet_broken_pipe()
    except SystemExit as exc:
        if isinstance(exc.code, str):  # raise SystemExit("message") somewhere below
            print(f"{prog}: {_one_line(exc.code)}", file=sys.stderr)
            return USAGE
        return exc.code if isinstance(exc.code, int) else 0
    except Exception as exc:
        if os.environ.get("AGENT_IAM_DEBUG"):
            raise
        message, code = explain(exc)
        with contextlib.suppress(BrokenPipeError):
            print(f"{prog}: {_one_line(message)}", file=sys.stderr)
        return code


def _quiet_broken_pipe() -> int:
    """The reader (``| head``) went away: stop quietly, and let no flush at exit complain."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # stdout replaced (tests) or already closed
        pass
    return 0
