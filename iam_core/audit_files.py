"""Which files belong to the audit log of a database, and opening them to serve or to verify.

Beside a database ``<name>.db`` lie its audit key (``audit-key.json`` for the IAM's, and
``<name>-audit-key.json`` for another log such as ``hotel.db``'s) and its witness
(``<name>-audit-witness.jsonl``, see :func:`iam_core.audit_witness.witness_path`). A log
records the kid of the key it was sealed with at its first append, so the right key is found
by kid, never by guessing from the name, and a missing key is reported as missing: neither a
fresh key (which would make every later check cry tampering) nor a verdict on the log.
"""

from __future__ import annotations

from pathlib import Path

from iam_core.audit import AuditLog
from iam_core.audit_keys import AuditKey, AuditKeyMissing
from iam_core.audit_witness import AuditWitness, witness_path
from iam_core.clock import Clock, SystemClock
from iam_core.store import DATABASE_ERRORS, AnyStore, is_url, open_store

__all__ = ["key_candidates", "open_to_verify", "serving_key"]


def key_candidates(db: Path) -> list[Path]:
    """The key files that may belong to the log in ``db``, the most specific first."""
    db = Path(db)
    return [db.parent / f"{db.stem}-audit-key.json", db.parent / "audit-key.json"]


def _has_entries(store: AnyStore) -> bool:
    try:
        return store.one("SELECT 1 FROM audit_entries LIMIT 1") is not None
    except DATABASE_ERRORS:  # no audit table yet: a new database
        return False


def _recorded_kid(store: AnyStore) -> str | None:
    try:
        row = store.one("SELECT kid FROM audit_meta WHERE id = 1")
    except DATABASE_ERRORS:
        return None
    return None if row is None else str(row[0])


def serving_key(store: AnyStore, path: Path) -> AuditKey:
    """The audit key at ``path`` for a server on ``store``: created only for a new log.

    A log that already has entries and no key file is refused with :class:`AuditKeyMissing`,
    so that a server never starts sealing a log under a key that cannot verify its past.
    """
    if path.exists() or _has_entries(store):
        try:
            return AuditKey.load(path)
        except AuditKeyMissing:
            raise AuditKeyMissing(
                f"the audit key file {path} is missing, but the audit log in {store.path} has "
                "entries: restore the key file (a new key could not verify them)"
            ) from None
    return AuditKey.load_or_create(path)


def open_to_verify(
    location: Path | str, clock: Clock | None = None, *, home: Path | None = None
) -> AuditLog:
    """The log in ``location`` with its own key and witness; :class:`AuditKeyMissing`
    without it. For a ``postgresql://`` URL the key and witness are looked for in ``home``.

    Raises ``FileNotFoundError`` when there is no database file at ``location``.
    """
    if is_url(str(location)):
        db = (home or Path()) / "iam.db"
    else:
        db = Path(location)
        if not db.is_file():
            raise FileNotFoundError(f"no audit log at {db}")
    store = open_store(location)
    try:
        kid = _recorded_kid(store)
        keys = [AuditKey.load(path) for path in key_candidates(db) if path.exists()]
        chosen = [k for k in keys if k.kid == kid] if kid is not None else keys[:1]
        if not chosen:
            tried = ", ".join(str(path) for path in key_candidates(db))
            sealed = f"is sealed with key {kid}, and" if kid is not None else "has"
            raise AuditKeyMissing(
                f"audit key missing: the log in {db} {sealed} no key file holding it ({tried})"
            )
        # A missing witness is the verdict's business (AuditLog.verify), not a refusal here.
        log = AuditLog(store, chosen[0], clock or SystemClock())
        log.attach_witness(AuditWitness(witness_path(db)))
        return log
    except BaseException:
        store.close()
        raise
