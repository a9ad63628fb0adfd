"""SQLite storage shared by the registry, keys, grants, revocation and audit modules.

One database file (or ``:memory:`` for tests). Each module owns its tables and creates
them through :meth:`Store.ensure_schema`. The connection runs in autocommit mode; writes
that must be atomic go through :meth:`Store.transaction`, which takes ``BEGIN IMMEDIATE``
so that two processes sharing the file serialise their writes instead of failing late.

File databases use WAL with ``synchronous=NORMAL``: a committed transaction survives a
crash of the process (it is in the WAL before ``COMMIT`` returns); only a power loss can
drop the last transactions, which is the trade-off SQLite documents for WAL mode.

PostgreSQL (``postgresql://…``, :mod:`iam_core.store_pg`) sits behind the same protocol:
:func:`open_store` picks the dialect from the location. Modules write SQLite's dialect; the
PostgreSQL store rewrites the few differences (:mod:`iam_core.store_sql`). Rows, cursors and
transactions are typed by the small protocols below, which both drivers' objects fit.
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
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
STORE_ENV = "AGENT_IAM_STORE"  # a store URL (or file path) for `serve`, `run`, ... (README)


class Row(Protocol):
    """A result row: by position and by column name (``sqlite3.Row`` and the PG row fit)."""

    def __getitem__(self, key: Any, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> list[str]: ...


class Cursor(Protocol):
    """What callers use of a cursor."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def fetchmany(self, size: int = ..., /) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Tx(Protocol):
    """The handle a transaction yields (a ``sqlite3.Connection`` fits)."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Any: ...

    def executemany(self, sql: str, parameters: Any, /) -> Any: ...


class SQLStore(Protocol):
    """What a module needs of a store (:class:`Store` and ``PGStore`` fit): schema creation,
    atomic units of work, and parameterised statements. Resource servers are handed one for
    their business data and their share of the security state (docs/design.md)."""

    @property
    def dialect(self) -> str: ...

    def ensure_schema(self, ddl: str, /) -> None: ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def execute(self, sql: str, params: Params = (), /) -> Cursor: ...

    def one(self, sql: str, params: Params = (), /) -> Row | None: ...

    def all(self, sql: str, params: Params = (), /) -> Sequence[Row]: ...


class AnyStore(SQLStore, Protocol):
    """A whole store as a process opens it: :class:`Store` or ``PGStore``."""

    path: str

    @property
    def is_memory(self) -> bool: ...

    def after_commit(self, callback: Callable[[], None], /) -> None: ...

    def notify(self, channel: str, payload: str, /) -> None: ...

    def listen(self, channel: str, callback: Callable[[str], None], /) -> None: ...

    def drop_triggers(self) -> None: ...

    def close(self) -> None: ...


def is_url(location: object) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(POSTGRES_SCHEMES)


def open_store(location: str | Path | None = None) -> AnyStore:
    """The store at ``location``: a ``postgresql://`` URL, a SQLite file, or None (memory)."""
    if location is not None and is_url(str(location)):
        from iam_core.store_pg import PGStore  # psycopg only when PostgreSQL is asked for

        return PGStore(str(location))
    return Store(MEMORY if location is None else location)


def _errors() -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    storage: tuple[type[Exception], ...] = (sqlite3.OperationalError, sqlite3.DatabaseError)
    integrity: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
    try:
        import psycopg
    except ImportError:  # the `postgres` extra is not installed
        return storage, integrity
    return (*storage, psycopg.OperationalError, psycopg.DatabaseError), (
        *integrity,
        psycopg.IntegrityError,
    )


# What "the store is unusable for now" and "a constraint refused the write" raise, whichever
# driver: callers catch these tuples, never one driver's classes.
STORAGE_ERRORS, INTEGRITY_ERRORS = _errors()
DATABASE_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, *STORAGE_ERRORS)


class Store:
    """A thread-safe SQLite connection with explicit transactions."""

    dialect = "sqlite"

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

    def notify(self, channel: str, payload: str) -> None:
        """Nothing to do: SQLite's readers look at the file (``PGStore`` sends NOTIFY)."""

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Nothing to listen to: other processes' writes are seen by polling the file."""

    def drop_triggers(self) -> None:
        """Drop every trigger: what someone holding the file can do (attack scenarios)."""
        with self._lock:
            for (name,) in self._conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            ).fetchall():
                self._conn.execute(f'DROP TRIGGER "{name}"')

    def copy_to_memory(self) -> sqlite3.Connection:
        """A copy of the whole database in memory (SQLite's online backup API), to
        :meth:`restore` later: a simulation's seeded template (iam_core/state_reset.py)."""
        copy = sqlite3.connect(MEMORY, check_same_thread=False)
        with self._lock:
            if self._in_tx:
                raise RuntimeError("snapshot inside a transaction")
            self._conn.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        """Replace every table's content with ``snapshot``'s (:meth:`copy_to_memory`), in place:
        the connection, and so every module holding this store, stays the same."""
        with self._lock:
            if self._in_tx:
                raise RuntimeError("restore inside a transaction")
            self._after_commit.clear()
            snapshot.backup(self._conn)

    def close(self) -> None:
        with self._lock:
            self._conn.close()
