"""The SQLite dialect the modules write, rewritten for PostgreSQL (``store_pg.PGStore``).

Every module keeps one set of statements, in SQLite's dialect, and SQLite runs them as
written (its speed is untouched). For PostgreSQL each statement passes once through
:func:`translate` (cached): the differences are few and mechanical, and keeping them in one
place is what lets a reviewer see all of them. What is rewritten:

* placeholders: ``?`` → ``%s`` and a literal ``%`` → ``%%`` (psycopg's paramstyle);
* ``INSERT OR IGNORE`` → ``INSERT … ON CONFLICT DO NOTHING`` (``INSERT OR REPLACE`` is refused:
  write an explicit upsert, which both dialects run);
* ``CAST(x AS BLOB)`` → ``convert_to(x, 'UTF8')`` (a text→bytea cast would read backslashes
  as escapes), ``instr(`` → ``strpos(`` (same argument order), ``X'ff'`` → ``decode('ff', 'hex')``,
  ``typeof(c)`` → ``pg_typeof(c)::text`` (PostgreSQL columns hold only their declared type);
* ``PRAGMA table_info(t)`` → the columns from ``information_schema``; ``PRAGMA
  integrity_check`` → ``'ok'`` (PostgreSQL maintains its indexes transactionally and has no
  per-table equivalent); ``sqlite_master`` → the schema's tables;
* DDL: ``INTEGER`` → ``BIGINT`` (SQLite's integers are 64-bit), ``REAL`` → ``DOUBLE
  PRECISION``, ``BLOB`` → ``BYTEA``, ``INTEGER PRIMARY KEY [AUTOINCREMENT]`` → an identity
  column (SQLite's rowid alias), ``GLOB 'p'`` → an anchored ``~`` regular expression, and a
  few tables ordered by SQLite's implicit ``rowid`` get an explicit identity ``rowid``;
* triggers ``BEFORE op ON t [WHEN c] BEGIN SELECT RAISE(ABORT, 'm'); END`` → a PL/pgSQL
  function raising SQLSTATE 23000 (an ``IntegrityError``, as SQLite's ``RAISE(ABORT)``), plus a
  ``BEFORE TRUNCATE`` trigger for every ``BEFORE DELETE`` one: PostgreSQL's ``TRUNCATE``
  skips row triggers, and the audit tables must stay append-only.
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["is_script", "split_script", "translate"]

# Tables listed in SQLite's insertion order (ORDER BY rowid): PostgreSQL has no implicit rowid.
ROWID_TABLES = frozenset(
    {"signing_keys", "hotel_bookings", "hotel_payments", "hotel_requests", "hotel_holds"}
)

_TOKENS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|[^'\"]+")
_TRIGGER = re.compile(
    r"CREATE\s+TRIGGER\s+IF\s+NOT\s+EXISTS\s+(?P<name>\w+)\s+BEFORE\s+(?P<op>INSERT|UPDATE|DELETE)"
    r"\s+ON\s+(?P<table>\w+)\s+(?:WHEN\s+(?P<when>.+?)\s+)?BEGIN\s+SELECT\s+RAISE\s*\(\s*ABORT\s*,"
    r"\s*'(?P<msg>(?:[^']|'')*)'\s*\)\s*;\s*END\s*;?",
    re.IGNORECASE | re.DOTALL,
)
_BLOB_LITERAL = re.compile(r"\bX'([0-9A-Fa-f]*)'")
_GLOB = re.compile(r"\b(NOT\s+)?GLOB\s+'((?:[^']|'')*)'", re.IGNORECASE)
_CREATE_TABLE = re.compile(r"^\s*CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?(\w+)\s*\(", re.I)


def split_script(script: str) -> list[str]:
    """The statements of a DDL script; trigger bodies (which hold ``;``) stay whole."""
    statements: list[str] = []
    rest = script
    while rest.strip():
        match = _TRIGGER.search(rest)
        head = rest if match is None else rest[: match.start()]
        statements += [s.strip() for s in head.split(";") if s.strip()]
        if match is None:
            break
        statements.append(match.group(0).strip().rstrip(";"))
        rest = rest[match.end() :]
    return statements


@lru_cache(maxsize=4096)
def translate(sql: str) -> str:
    """``sql`` (one statement, SQLite dialect) as PostgreSQL runs it through psycopg."""
    stripped = sql.strip()
    upper = stripped.upper()
    if upper.startswith("CREATE TRIGGER"):
        return _trigger(stripped)
    if upper.startswith("PRAGMA"):
        return _pragma(stripped)
    if upper.startswith("INSERT OR REPLACE"):
        raise ValueError("INSERT OR REPLACE has no PostgreSQL form: write ON CONFLICT … DO UPDATE")
    ddl = upper.startswith(("CREATE TABLE", "ALTER TABLE"))
    ignore = upper.startswith("INSERT OR IGNORE")
    out: list[str] = []
    stripped = _BLOB_LITERAL.sub(r"decode('\1', 'hex')", stripped)
    for token in _TOKENS.findall(_glob(stripped) if ddl else stripped):
        if token[0] in "'\"":
            out.append(token.replace("%", "%%"))
            continue
        out.append(_code(token, ddl=ddl))
    text = "".join(out)
    if ignore:
        text = re.sub(r"^INSERT\s+OR\s+IGNORE\s+INTO", "INSERT INTO", text, flags=re.I)
        text += " ON CONFLICT DO NOTHING"
    if ddl and (table := _CREATE_TABLE.match(text)) and table.group(1) in ROWID_TABLES:
        close = text.rstrip().rstrip(";").rstrip()
        assert close.endswith(")"), text
        text = close[:-1].rstrip() + ", rowid BIGINT GENERATED ALWAYS AS IDENTITY)"
    return text


def _code(token: str, *, ddl: bool) -> str:
    token = token.replace("%", "%%").replace("?", "%s")
    token = re.sub(
        r"\bCAST\s*\(([^()]+?)\s+AS\s+BLOB\s*\)", r"convert_to(\1, 'UTF8')", token, flags=re.I
    )
    token = re.sub(r"\binstr\s*\(", "strpos(", token, flags=re.I)
    token = re.sub(r"\btypeof\s*\(([^()]+)\)", r"pg_typeof(\1)::text", token, flags=re.I)
    token = re.sub(r"\bsqlite_master\b", _MASTER, token)
    if ddl:
        token = re.sub(
            r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            token,
            flags=re.I,
        )
        token = re.sub(r"\bINTEGER\b", "BIGINT", token, flags=re.I)
        token = re.sub(r"\bREAL\b", "DOUBLE PRECISION", token, flags=re.I)
        token = re.sub(r"\bBLOB\b", "BYTEA", token, flags=re.I)
        token = re.sub(r"\)\s*WITHOUT\s+ROWID\s*$", ")", token, flags=re.I)
    return token


_MASTER = (
    "(SELECT tablename AS name, 'table' AS type FROM pg_catalog.pg_tables"
    " WHERE schemaname = current_schema()) AS sqlite_master"
)


def _pragma(sql: str) -> str:
    info = re.fullmatch(r"PRAGMA\s+table_info\s*\(\s*(\w+)\s*\)\s*;?", sql, re.I)
    if info:
        # The table name matched \w+ above: nothing but a word reaches the query.
        where = f"table_schema = current_schema() AND table_name = '{info.group(1)}'"
        return f"SELECT column_name AS name FROM information_schema.columns WHERE {where}"  # noqa: S608
    if re.match(r"PRAGMA\s+integrity_check", sql, re.I):
        return "SELECT 'ok'"
    raise ValueError(f"no PostgreSQL form for {sql[:60]!r}")


def _glob(sql: str) -> str:
    """``x GLOB 'p'`` → ``x ~ '^re$'``: ``*`` any run, ``?`` one character, ``[…]`` a class."""

    def regex(match: re.Match[str]) -> str:
        pattern, out, i = match.group(2).replace("''", "'"), ["^"], 0
        while i < len(pattern):
            char = pattern[i]
            if char == "*":
                out.append(".*")
            elif char == "?":
                out.append(".")
            elif char == "[":
                end = pattern.index("]", i + 1)
                out.append(pattern[i : end + 1])
                i = end
            else:
                out.append(re.escape(char))
            i += 1
        operator = "!~" if match.group(1) else "~"
        escaped = "".join(out).replace("'", "''")
        return f"{operator} '{escaped}$'"

    return _GLOB.sub(regex, sql)


def _trigger(sql: str) -> str:
    match = _TRIGGER.fullmatch(sql.strip() if sql.strip().endswith(";") else sql.strip() + ";")
    if match is None:
        raise ValueError(f"unsupported trigger for PostgreSQL: {sql[:80]!r}")
    name, op, table = match.group("name"), match.group("op").upper(), match.group("table")
    when, message = match.group("when"), match.group("msg")
    row = "OLD" if op == "DELETE" else "NEW"
    raise_it = f"RAISE EXCEPTION '{message}' USING ERRCODE = '23000';"
    body = f"IF {when} THEN {raise_it} END IF;" if when else raise_it
    truncate = ""
    if op == "DELETE":
        truncate = (
            f"CREATE OR REPLACE TRIGGER {name}_truncate BEFORE TRUNCATE ON {table}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}_fn();"
        )
    function = (
        f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger LANGUAGE plpgsql AS $fn$"
        f" BEGIN {body} RETURN {row}; END $fn$;"
    )
    trigger = (
        f"CREATE OR REPLACE TRIGGER {name} BEFORE {op} ON {table}"
        f" FOR EACH ROW EXECUTE FUNCTION {name}_fn();"
    )
    # A script of several statements, run without parameters (see :func:`is_script`).
    return function + trigger + truncate


def is_script(translated: str) -> bool:
    """Whether ``translated`` holds several statements, to be run without parameters."""
    return translated.startswith("CREATE OR REPLACE FUNCTION")
