"""Checks of arguments and of the local state, made before any long work starts.

The argparse ``type=`` functions turn a bad path, URL or port into a usage error naming the
flag; :func:`local_state` finds a corrupt database, audit key or agent key before a command
opens them, so that a mistake costs a second, not a whole run.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization

from agent_iam.errors import CLIError

SQLITE_HEADER = b"SQLite format 3\x00"


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port {value} is outside 1-65535")
    return value


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not a positive number")
    return value


def url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"not an http(s) URL: {text!r} (e.g. http://127.0.0.1:8000)"
        )
    try:
        parts.port  # noqa: B018 — raises for a port out of range
    except ValueError:
        raise argparse.ArgumentTypeError(f"bad port in {text!r}") from None
    return text.rstrip("/")


def _writable_place(path: Path) -> str | None:
    """Why ``path`` cannot be created or written, or None when it can."""
    if path.is_dir():
        return "is a folder, not a file"
    if path.exists():
        return None if os.access(path, os.W_OK) else "is not writable"
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot be created: {parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot be created: {parent} is not writable"
    return None


def output_file(text: str) -> Path:
    """A file the command will write: checked now, not after a long run."""
    path = Path(text)
    problem = _writable_place(path)
    if problem:
        raise argparse.ArgumentTypeError(f"{text} {problem}")
    path.parent.mkdir(parents=True, exist_ok=True)  # a missing folder is made now, not after
    return path


def output_dir(text: str) -> Path:
    """A folder the command will write into (created if missing)."""
    path = Path(text)
    if path.is_dir():
        if not os.access(path, os.W_OK | os.X_OK):
            raise argparse.ArgumentTypeError(f"{text} is not writable")
        return path
    if path.exists():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a folder")
    problem = _writable_place(path)
    if problem:
        raise argparse.ArgumentTypeError(f"{text} {problem}")
    return path


def input_dir(text: str) -> Path:
    """A folder the command will read (``run --replay DIR``)."""
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is not a folder")
    if not os.access(path, os.R_OK | os.X_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable")
    return path


def input_file(text: str) -> Path:
    path = Path(text)
    if not path.exists():
        raise argparse.ArgumentTypeError(f"{text} does not exist")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"{text} is not a file")
    if not os.access(path, os.R_OK):
        raise argparse.ArgumentTypeError(f"{text} is not readable")
    return path


def database(text: str) -> Path | str:
    """``--db``/``--store``: a SQLite file (or a place for one), or a ``postgresql://`` URL."""
    if text.startswith(("postgresql://", "postgres://")):
        return text
    path = output_file(text)
    problem = _not_sqlite(path)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return path


def _not_sqlite(path: Path) -> str | None:
    if not path.is_file() or path.stat().st_size == 0:
        return None
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except OSError as exc:
        return f"{path}: {exc.strerror}"
    if header != SQLITE_HEADER:
        return f"{path} is not a SQLite database (corrupt? start afresh with agent-iam reset)"
    return None


def local_state(db: Path | str, *, writing: bool = True) -> None:
    """Refuse, in one line, a corrupt database, audit key or agent key in the state folder."""
    from scenarios.deployment import state_dir  # heavy: only for commands that need state

    if isinstance(db, str) and db.startswith(("postgresql://", "postgres://")):
        db = state_dir() / "iam.db"  # the server checks itself; its key files live here
    else:
        db = Path(db)
        problem = _writable_place(db) if writing else None
        if problem:
            raise CLIError(f"database {db} {problem}")
        problem = _not_sqlite(db)
        if problem:
            raise CLIError(problem)
    key = db.parent / "audit-key.json"
    if key.is_file():
        try:
            json.loads(key.read_text())
        except (ValueError, OSError) as exc:
            raise CLIError(
                f"audit key {key} is unreadable ({type(exc).__name__}); restore it, "
                "or start afresh with agent-iam reset"
            ) from None
    folder = state_dir() / "agent-keys"
    if folder.is_dir():
        for pem in sorted(folder.glob("*.pem")):
            try:
                serialization.load_pem_private_key(pem.read_bytes(), password=None)
            except (ValueError, TypeError, OSError) as exc:
                raise CLIError(
                    f"agent key {pem} is unreadable ({type(exc).__name__}); remove it "
                    "(a new key is made, and agent-iam reset re-registers it)"
                ) from None
