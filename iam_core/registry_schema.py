"""The registry's tables, and the migrations that bring an existing database up to date.

The tables of the first version are created as they were; every column added since is listed
in :data:`ADDED_COLUMNS` and added at start-up when missing (SQLite ``ALTER TABLE ... ADD
COLUMN``), so that a database file written by an older version opens unchanged. Then the rows
without a ``skeleton`` get one, and the unique indexes and triggers below are created.

``skeleton`` holds :func:`iam_core.identifiers.skeleton_key` of the id. Users, agents and apps
share one namespace (docs/design.md, the registry): a unique index per table refuses a look-alike
within a table, and a trigger per table refuses one across tables, both inside the inserting
transaction, so two processes sharing the file cannot both register look-alikes.
"""

from __future__ import annotations

from iam_core.identifiers import skeleton_key
from iam_core.store import AnyStore

TABLES = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, display_name TEXT NOT NULL, email TEXT, roles TEXT NOT NULL,
    active INTEGER NOT NULL, password_hash TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, display_name TEXT NOT NULL, owner TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, roles TEXT NOT NULL, jwks TEXT NOT NULL, delegable TEXT NOT NULL,
    autonomous TEXT NOT NULL, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS apps (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, confidential INTEGER NOT NULL,
    redirect_uris TEXT NOT NULL, grant_types TEXT NOT NULL, auth_method TEXT NOT NULL,
    scopes TEXT NOT NULL, secret_digest TEXT, active INTEGER NOT NULL, created_at REAL NOT NULL
);
"""

# (table, column, declaration, what it holds): added when missing, in this order.
ADDED_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("users", "skeleton", "TEXT", "identifiers.skeleton_key(id): look-alike ids share it"),
    ("agents", "skeleton", "TEXT", "identifiers.skeleton_key(id)"),
    ("apps", "skeleton", "TEXT", "identifiers.skeleton_key(id)"),
    ("users", "external_id", "TEXT", "the provisioning client's id for the user (RFC 7643 §3.1)"),
    ("users", "name", "TEXT", "JSON object: the SCIM name components (RFC 7643 §4.1.1)"),
    ("users", "emails", "TEXT", "JSON array: every SCIM email, value/type/primary/display"),
    ("agents", "external_id", "TEXT", "the provisioning client's id for the agent"),
)

_TABLES = ("users", "agents", "apps")
SKELETON_TAKEN = "identity skeleton taken"


def _guards() -> list[str]:
    """Per table: a unique index on ``skeleton``, and a trigger refusing a missing key or one
    another table holds (one statement each: ``executescript`` would commit the transaction)."""
    statements = []
    for table in _TABLES:
        others = " OR ".join(
            f"EXISTS (SELECT 1 FROM {other} WHERE skeleton = NEW.skeleton)"  # noqa: S608 - fixed names
            for other in _TABLES
            if other != table
        )
        statements += [
            f"CREATE UNIQUE INDEX IF NOT EXISTS {table}_skeleton ON {table}(skeleton)",
            f"CREATE TRIGGER IF NOT EXISTS {table}_skeleton_free BEFORE INSERT ON {table} "
            f"WHEN NEW.skeleton IS NULL OR {others} "
            f"BEGIN SELECT RAISE(ABORT, '{SKELETON_TAKEN}'); END",
        ]
    return statements


def migrate(store: AnyStore) -> None:
    """Create the tables, add missing columns, fill ``skeleton``, then index and guard it."""
    store.ensure_schema(TABLES)
    with store.transaction() as tx:
        for table, column, declaration, _ in ADDED_COLUMNS:
            present = {row["name"] for row in tx.execute(f"PRAGMA table_info({table})")}
            if column not in present:
                tx.execute(f"ALTER TABLE {table} ADD COLUMN {column} {declaration}")
        keys: dict[str, str] = {}
        for table in _TABLES:
            stored = tx.execute(f"SELECT id, skeleton FROM {table}").fetchall()  # noqa: S608 - fixed table names
            for row in stored:
                key = row["skeleton"] or skeleton_key(row["id"])
                if key in keys:
                    raise RuntimeError(
                        f"the registry holds look-alike identities {keys[key]!r} and "
                        f"{row['id']!r} (docs/attacks.md, look-alikes): remove one to start"
                    )
                keys[key] = row["id"]
                if row["skeleton"] is None:
                    tx.execute(
                        f"UPDATE {table} SET skeleton = ? WHERE id = ?",  # noqa: S608 - fixed table names
                        (key, row["id"]),
                    )
        for statement in _guards():
            tx.execute(statement)
