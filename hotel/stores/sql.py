"""The SQL store the hotel's business data lives in, as the hotel sees it.

The hotel never opens a database itself: the composition root (``scenarios.deployment``,
``agent-iam serve``) hands in a store with this shape — in this lab the IAM's own
``iam_core.store.Store``, which satisfies the Protocol structurally. Typing the stores
against the Protocol rather than the class keeps the hotel on the resource-server side of
the line a service in another company would stand on: it gets a connection to its own
tables, not the issuer's internals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

Params = Sequence[Any] | dict[str, Any]


class SQLStore(Protocol):
    """A SQLite connection with explicit, nestable transactions and autocommit otherwise."""

    def ensure_schema(self, ddl: str) -> None:
        """Create tables, indexes and triggers if they do not exist yet."""
        ...

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        """An atomic unit of work; nested calls join the outer transaction."""
        ...

    def execute(self, sql: str, params: Params = ()) -> sqlite3.Cursor: ...

    def one(self, sql: str, params: Params = ()) -> sqlite3.Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[sqlite3.Row]: ...
