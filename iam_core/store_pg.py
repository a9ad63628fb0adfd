"""The store on PostgreSQL (psycopg 3), for deployments that outgrow one file.

Same protocol and semantics as the SQLite :class:`~iam_core.store.Store`:

* one connection, in autocommit mode, guarded by a lock, so one process's statements and
  transactions never interleave (several processes or machines each hold their own);
* :meth:`PGStore.transaction` takes its schema's advisory lock first, so writers serialise across
  processes as SQLite's ``BEGIN IMMEDIATE`` makes them do: the read-then-write units of work
  (the audit chain's head, quota counts, one-time codes) stay correct under READ COMMITTED
  without retry loops. The lock is held past ``COMMIT`` until the after-commit callbacks
  have run, so the next writer anywhere sees the audit witness of what it reads;
* statements are written in SQLite's dialect and rewritten once each
  (:mod:`iam_core.store_sql`); rows answer by position and by column name like ``sqlite3.Row``;
  Python booleans are stored as the integers SQLite keeps them as, and NUL (which PostgreSQL
  text cannot hold) as U+FFFD.

Migrations: each module's DDL is applied at start-up, once per schema, inside one locked
transaction (so simultaneous cold starts cannot race on ``CREATE TABLE``), and recorded by
its SHA-256 in ``schema_migrations``; changed DDL is a new migration. Revocation fan-out uses
``LISTEN``/``NOTIFY`` (:meth:`PGStore.notify`, :meth:`PGStore.listen`) to wake pollers at once;
the stored cursors stay the source of truth.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, ClassVar

import psycopg
from psycopg import sql as pgsql
from psycopg.adapt import Dumper
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import StrDumperUnknown

from iam_core.store_sql import is_script, split_script, translate

__all__ = ["PGStore", "create_scratch_schema", "drop_schema", "redact"]

_log = logging.getLogger(__name__)
# As iam_core.store.Params (not imported: iam_core.store imports this module).
Params = Sequence[Any] | dict[str, Any]
# One advisory lock for every writer of a deployment, which is one schema: see above.


def write_lock(schema: str) -> int:
    """The advisory lock key of ``schema`` (a signed 64-bit integer, as PostgreSQL takes)."""
    digest = hashlib.sha256(f"agent-iam:{schema}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


_MIGRATIONS = (
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    " id TEXT PRIMARY KEY, statements INTEGER NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
)


class PGRow(tuple[Any, ...]):
    """A row by position and by column name (as ``sqlite3.Row``)."""

    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._index)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[PGRow]:
    return type("PGRow", (PGRow,), {"_index": {n: i for i, n in enumerate(names)}})


def _rows(cursor: Any) -> Callable[[Sequence[Any]], Any]:
    if cursor.description is None:
        return tuple
    cls = _row_class(tuple(c.name for c in cursor.description))
    return cls


class _BoolAsInt(Dumper):
    """SQLite keeps booleans as 0/1 in INTEGER columns; so do the PostgreSQL tables."""

    oid = psycopg.adapters.types["int8"].oid

    def dump(self, obj: Any) -> bytes:
        return b"1" if obj else b"0"


class _TextWithoutNul(StrDumperUnknown):
    """PostgreSQL text cannot hold NUL (SQLite's can): it is sent as U+FFFD, the character
    for "could not be represented". A value with NUL is then stored as U+FFFD and compares
    equal to nothing stored but that; the audit log scrubs NUL the same way on both stores."""

    def dump(self, obj: str) -> Any:
        return super().dump(obj.replace("\x00", "\ufffd") if "\x00" in obj else obj)


def redact(url: str) -> str:
    """``url`` without its password, for messages and logs."""
    parts = conninfo_to_dict(url)
    parts.pop("password", None)
    parts.pop("options", None)
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def _connect(conninfo: str) -> psycopg.Connection[Any]:
    conn = psycopg.connect(conninfo, autocommit=True, row_factory=_rows)
    conn.adapters.register_dumper(bool, _BoolAsInt)
    conn.adapters.register_dumper(str, _TextWithoutNul)
    return conn


class _Tx:
    """What :meth:`PGStore.transaction` yields: statements in SQLite's dialect."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def execute(self, sql: str, parameters: Params = ()) -> psycopg.Cursor[Any]:
        return self.run(translate(sql), parameters)

    def run(self, query: str, parameters: Params = ()) -> psycopg.Cursor[Any]:
        """An already translated statement (a script runs without parameters)."""
        if is_script(query):
            return self._conn.execute(query.encode())
        return self._conn.execute(query.encode(), parameters)

    def executemany(self, sql: str, parameters: Any) -> psycopg.Cursor[Any]:
        cursor = self._conn.cursor()
        cursor.executemany(translate(sql).encode(), list(parameters))
        return cursor


class PGStore:
    """A thread-safe PostgreSQL connection with explicit, serialised write transactions."""

    dialect = "postgresql"

    def __init__(self, url: str, *, owned_schema: str | None = None) -> None:
        self._conninfo = url
        self.path = redact(url)
        self._owned_schema = owned_schema
        self._conn = _connect(url)
        self._tx = _Tx(self._conn)
        # Stores on other schemas of the same database never wait for each other.
        schema = self._conn.execute(b"SELECT current_schema()").fetchone()
        if schema is None or schema[0] is None:
            raise psycopg.OperationalError(f"no schema to create tables in on {self.path}")
        self._write_lock = write_lock(str(schema[0]))
        self._begin = b"SELECT pg_advisory_lock(%d); BEGIN" % self._write_lock
        self._lock = threading.RLock()
        self._in_tx = 0
        self._after_commit: list[Callable[[], None]] = []
        self._listeners: dict[str, list[Callable[[str], None]]] = {}
        self._listener: threading.Thread | None = None
        self._closed = threading.Event()
        with self.transaction() as tx:
            tx.execute(_MIGRATIONS)
        self._applied = {str(r[0]) for r in self.all("SELECT id FROM schema_migrations")}

    @property
    def is_memory(self) -> bool:
        return False

    def ensure_schema(self, ddl: str) -> None:
        """Apply ``ddl`` once per schema (a migration identified by its SHA-256)."""
        statements = [translate(s) for s in split_script(ddl)]
        digest = hashlib.sha256("\n;\n".join(statements).encode()).hexdigest()
        if digest in self._applied:
            return
        with self.transaction() as tx:
            done = tx.execute("SELECT 1 FROM schema_migrations WHERE id = ?", (digest,)).fetchone()
            if done is None:
                for statement in statements:
                    tx.run(statement)
                tx.execute(
                    "INSERT INTO schema_migrations VALUES (?, ?, ?)",
                    (digest, len(statements), time.time()),
                )
        self._applied.add(digest)

    @contextmanager
    def transaction(self) -> Iterator[_Tx]:
        """An atomic unit of work; nested calls join the outer transaction."""
        with self._lock:
            if self._in_tx:
                self._in_tx += 1
                try:
                    yield self._tx
                finally:
                    self._in_tx -= 1
                return
            # One round trip for both (the simple query protocol takes several statements;
            # the key is our own integer): round trips are what a PostgreSQL store costs.
            self._conn.execute(self._begin)
            try:
                self._in_tx = 1
                try:
                    yield self._tx
                except BaseException:
                    self._in_tx = 0
                    self._after_commit.clear()
                    self._rollback()
                    raise
                self._in_tx = 0
                try:
                    self._conn.execute(b"COMMIT")
                except BaseException:
                    self._after_commit.clear()
                    raise
                callbacks, self._after_commit = self._after_commit, []
                for callback in callbacks:
                    callback()
            finally:
                self._unlock()

    def _unlock(self) -> None:
        try:
            self._conn.execute(b"SELECT pg_advisory_unlock(%s)", (self._write_lock,))
        except psycopg.Error:  # a broken connection: its session, and the lock, are gone
            _log.warning("advisory unlock failed on %s", self.path)

    def _rollback(self) -> None:
        try:
            self._conn.execute(b"ROLLBACK")
        except psycopg.Error:  # the connection broke: nothing left to roll back
            _log.warning("rollback failed on %s", self.path)

    @contextmanager
    def snapshot(self) -> Iterator[_Tx]:
        """One consistent read on its own connection, which never holds up writers (the
        audit verification's walk, as SQLite's separate read-only connection does)."""
        conn = _connect(self._conninfo)
        try:
            conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield _Tx(conn)
        finally:
            conn.close()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the current transaction commits (now, outside one)."""
        with self._lock:
            if self._in_tx:
                self._after_commit.append(callback)
                return
        callback()

    def execute(self, sql: str, params: Params = ()) -> psycopg.Cursor[Any]:
        with self._lock:
            return self._tx.execute(sql, params)

    def one(self, sql: str, params: Params = ()) -> Any:
        with self._lock:
            return self._tx.execute(sql, params).fetchone()

    def all(self, sql: str, params: Params = ()) -> list[Any]:
        with self._lock:
            return list(self._tx.execute(sql, params).fetchall())

    # -- LISTEN / NOTIFY ---------------------------------------------------------------
    def notify(self, channel: str, payload: str) -> None:
        """Send ``payload`` on ``channel``; inside a transaction, delivered when it commits."""
        self.execute("SELECT pg_notify(?, ?)", (channel, payload))

    def listen(self, channel: str, callback: Callable[[str], None]) -> None:
        """Call ``callback(payload)`` (from a listener thread) for every NOTIFY on ``channel``."""
        with self._lock:
            self._listeners.setdefault(channel, []).append(callback)
            if self._listener is None:
                ready = threading.Event()
                self._listener = threading.Thread(
                    target=self._listen_loop, args=(ready,), name="pg-listen", daemon=True
                )
                self._listener.start()
                ready.wait(10)

    def _listen_loop(self, ready: threading.Event) -> None:
        listening: set[str] = set()
        conn: psycopg.Connection[Any] | None = None
        while not self._closed.is_set():
            try:
                if conn is None:
                    conn = _connect(self._conninfo)
                    listening.clear()
                for channel in set(self._listeners) - listening:
                    conn.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
                    listening.add(channel)
                ready.set()
                for note in conn.notifies(timeout=0.5):
                    for callback in list(self._listeners.get(note.channel, ())):
                        try:
                            callback(note.payload)
                        except Exception:  # noqa: BLE001 -- one listener must not stop the rest
                            _log.exception("NOTIFY listener on %s failed", note.channel)
            except psycopg.Error:
                # The cursor in the store is the truth: a lost connection only delays a
                # wake-up until pollers look again, so reconnect and go on.
                ready.set()
                if conn is not None:
                    conn.close()
                conn = None
                self._closed.wait(0.5)
        if conn is not None:
            conn.close()

    def drop_triggers(self) -> None:
        """Drop every trigger of the schema: what someone holding the database can do."""
        with self._lock:
            rows = self._conn.execute(
                b"SELECT tgname, relname FROM pg_trigger JOIN pg_class ON tgrelid = pg_class.oid"
                b" WHERE NOT tgisinternal AND relnamespace = current_schema()::regnamespace"
            ).fetchall()
            for name, table in rows:
                self._conn.execute(
                    pgsql.SQL("DROP TRIGGER {} ON {}").format(
                        pgsql.Identifier(name), pgsql.Identifier(table)
                    )
                )

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            if self._owned_schema is not None and not self._conn.closed:
                drop_schema(self._conn, self._owned_schema)
            self._conn.close()
        if self._listener is not None:
            self._listener.join(timeout=2)


def with_schema(url: str, schema: str) -> str:
    """``url`` (a ``postgresql://`` URL) with ``schema`` as its search path: every table is
    created there. Still a URL, so that ``--store`` and ``AGENT_IAM_STORE`` take it."""
    if not url.startswith(("postgresql://", "postgres://")):
        return make_conninfo(url, options=f"-csearch_path={schema}")
    return f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"


def create_scratch_schema(url: str, prefix: str = "test") -> tuple[str, str]:
    """A new empty schema ``<prefix>_<random>``; returns (its name, a conninfo using it)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(pgsql.SQL("CREATE SCHEMA {}").format(pgsql.Identifier(name)))
    return name, with_schema(url, name)


def scratch_store(url: str, prefix: str = "test") -> PGStore:
    """A store in a new schema of its own, dropped when the store is closed (tests)."""
    name, conninfo = create_scratch_schema(url, prefix)
    return PGStore(conninfo, owned_schema=name)


def drop_schema(conn_or_url: psycopg.Connection[Any] | str, schema: str) -> None:
    """Drop ``schema`` and everything in it."""
    statement = pgsql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(pgsql.Identifier(schema))
    if isinstance(conn_or_url, str):
        with psycopg.connect(conn_or_url, autocommit=True) as conn:
            conn.execute(statement)
    else:
        conn_or_url.execute(statement)
