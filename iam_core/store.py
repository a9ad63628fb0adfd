"""SQLite storage shared by the registry, keys, grants, revocation and audit modules.

One database file (or ``:memory:`` for tests). Each module owns its tables and creates
them through :meth:`Store.ensure_schema`. The connection runs in autocommit mode; writes
that must be atomic go through :meth:`Store.transaction`, which takes ``BEGIN IMMEDIATE``
so that two processes sharing the file serialise their writes instead of failing late.

File databases use WAL with ``synchronous=NORMAL``: a committed transaction survives a
crash of the process (it is in the WAL before ``COMMIT`` returns); only a power loss can
drop the last transactions, which is the trade-off SQLite documents for WAL mode.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, Protocol

MEMORY = ":memory:"

Params = Sequence[Any] | dict[str, Any]


class SQLStore(Protocol):
    """What a module needs of a store (:class:`Store` fits): schema creation, atomic units of
    work, and parameterised statements. Resource servers are handed one for their business
    data and their share of the security state (docs/design.md)."""

    def ensure_schema(self, ddl: str, /) -> None: ...

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def execute(self, sql: str, params: Params = (), /) -> sqlite3.Cursor: ...

    def one(self, sql: str, params: Params = (), /) -> sqlite3.Row | None: ...

    def all(self, sql: str, params: Params = (), /) -> list[sqlite3.Row]: ...


class Store:
    """A thread-safe SQLite connection with explicit transactions."""

    def __init__(self, path: str | Path = MEMORY) -> None:
        self.path = str(path)
        if self.path != MEMORY:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=30.0
        )
        self._conn.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        self._in_tx = 0
        self._after_commit: list[Callable[[], None]] = []
        if self.path != MEMORY:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=NORMAL")
            # Checkpoint the WAL every ~40 MB rather than ~4 MB: the audit log appends on
            # every request, and each checkpoint syncs the database file (measured: -13 µs
            # per audit append).
            self._conn.execute("PRAGMA wal_autocheckpoint=10000")
        self._conn.execute("PRAGMA foreign_keys=ON")

    @property
    def is_memory(self) -> bool:
        return self.path == MEMORY

    def ensure_schema(self, ddl: str) -> None:
        """Create tables, indexes and triggers if they do not exist yet."""
        with self._lock:
            self._conn.executescript(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """An atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            if self._in_tx:
                self._in_tx += 1
                try:
                    yield self._conn
                finally:
                    self._in_tx -= 1
                return
            self._conn.execute("BEGIN IMMEDIATE")
            self._in_tx = 1
            try:
                yield self._conn
            except BaseException:
                self._in_tx = 0
                self._after_commit.clear()
                self._conn.execute("ROLLBACK")
                raise
            self._in_tx = 0
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._after_commit.clear()
                raise
            # Still under the lock, so that callbacks run in commit order.
            callbacks, self._after_commit = self._after_commit, []
            for callback in callbacks:
                callback()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the current transaction commits (now, outside one).

        Dropped if it rolls back. For records kept outside the database that must never claim
        more than it holds, such as the audit witness (docs/design.md).
        """
        with self._lock:
            if self._in_tx:
                self._after_commit.append(callback)
                return
        callback()

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._conn.execute(sql, params)

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        with self._lock:
            row: sqlite3.Row | None = self._conn.execute(sql, params).fetchone()
            return row

    def all(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return list(self._conn.execute(sql, params).fetchall())

    def snapshot(self) -> sqlite3.Connection:
        """A copy of the whole database in memory (SQLite's online backup API), to
        :meth:`restore` later: a simulation's seeded template (iam_core/state_reset.py)."""
        copy = sqlite3.connect(MEMORY, check_same_thread=False)
        with self._lock:
            if self._in_tx:
                raise RuntimeError("snapshot inside a transaction")
            self._conn.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Replace every table's content with ``snapshot``'s (:meth:`snapshot`), in place:
        the connection, and so every module holding this store, stays the same."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("restore inside a transaction")
            self._after_commit.clear()
            snapshot.backup(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
