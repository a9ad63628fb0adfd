"""The audit witness: every sealed head, and every checkpoint, also written to a second file.

A database file holds its own history: an older genuine head seal can be written back (the
``-wal`` file keeps many), and the log truncated to match. Nothing in the file then tells the
rollback apart from a log that simply ended there. The witness is an append-only JSON Lines
file outside the database, one line per committed head::

    {"seq": 42, "hash": "<chain hash>", "seal": "<head seal>"[, "checkpoint": "<JWS>"]}

``AuditLog.verify`` then requires that the log still holds every head the witness saw (at its
seq, with its hash) and reaches the highest one. A line is only written once its entry is
committed, so the witness is a lower bound: a crash between commit and line loses nothing but
that line. Lines carry the head seal, so a forged line is reported as such. What stays
undetectable (an attacker who rolls back both files together) is in the README's trust model.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import weakref
from pathlib import Path

import orjson

from iam_core.audit_keys import AuditError, AuditKey
from iam_core.audit_verify import WitnessView

__all__ = ["AuditWitness", "WitnessView", "witness_path"]

_log = logging.getLogger(__name__)
_MAX_LINE = 4096


def witness_path(db: Path, folder: Path | None = None) -> Path:
    """Where the witness of the log in database ``db`` lives: ``<stem>-audit-witness.jsonl``
    in ``folder`` (``AGENT_IAM_WITNESS_DIR``, else beside the database)."""
    env = os.environ.get("AGENT_IAM_WITNESS_DIR")
    folder = folder or (Path(env) if env else Path(db).parent)
    return folder / f"{Path(db).stem}-audit-witness.jsonl"


class AuditWitness:
    """An append-only witness file; :meth:`publish` is called by ``AuditLog`` after commit."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._lock = threading.Lock()
        self._closer: weakref.finalize[[int], AuditWitness] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def publish(self, seq: int, chain_hash: str, seal: str, checkpoint: str | None = None) -> None:
        """Append one head. A failure is logged, never raised: the entry is committed already,
        and a missing line only makes the witness a lower bound (module doc)."""
        record: dict[str, object] = {"seq": seq, "hash": chain_hash, "seal": seal}
        if checkpoint is not None:
            record["checkpoint"] = checkpoint
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        try:
            with self._lock:
                if self._fd is None:
                    self.path.parent.mkdir(parents=True, exist_ok=True)
                    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
                    self._fd = os.open(self.path, flags, 0o600)
                    self._closer = weakref.finalize(self, os.close, self._fd)
                # One write() of one line: O_APPEND places it whole at the end, even with
                # other processes (the standalone services) witnessing the same log.
                os.write(self._fd, line)
        except OSError:
            _log.exception("audit witness %s: could not record entry %d", self.path, seq)

    def read(self, key: AuditKey) -> WitnessView:
        """Every head the witness saw, each seal and checkpoint checked against ``key``."""
        source = f"the witness {self.path}"
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            why = f"{source} is missing: a rollback of the log cannot be ruled out"
            return WitnessView(problem=(None, why), source=source)
        except OSError as exc:
            return WitnessView(problem=(None, f"{source} is unreadable: {exc}"), source=source)
        lines = data.split(b"\n")
        if lines and lines[-1]:
            lines.pop()  # a line cut short by a power loss mid-write: it vouched for nothing
        heads: dict[int, set[str]] = {}
        problem: tuple[int | None, str] | None = None
        for number, line in enumerate(lines, start=1):
            if not line:
                continue
            found = _parse(line, key)
            if isinstance(found, str):
                problem = problem or (None, f"{source}, line {number}: {found}")
                continue
            seq, digest = found
            heads.setdefault(seq, set()).add(digest)
        forks = sorted(seq for seq, hashes in heads.items() if len(hashes) > 1)
        if forks and problem is None:
            why = f"{source} saw two different entries {forks[0]}: the log was rolled back"
            problem = (forks[0], why)
        return WitnessView({s: frozenset(h) for s, h in heads.items()}, problem, source)

    def close(self) -> None:
        with self._lock:
            if self._closer is not None:
                self._closer()  # closes the file once, here or when the witness is collected
                self._fd = self._closer = None


def _parse(line: bytes, key: AuditKey) -> tuple[int, str] | str:
    """(seq, hash) of a genuine witness line, or why it is not one."""
    if len(line) > _MAX_LINE:
        return "line too long"
    try:
        record = orjson.loads(line)  # native speed; json reads what it refuses (e.g. big ints)
    except orjson.JSONDecodeError:
        try:
            record = json.loads(line)
        except (ValueError, RecursionError):
            return "not JSON"
    if not isinstance(record, dict):
        return "not a JSON object"
    seq, digest, seal = record.get("seq"), record.get("hash"), record.get("seal")
    if type(seq) is not int or not isinstance(digest, str):
        return "no integer seq and string hash"
    if not key.head_seal_valid(seq, digest, seal):
        return "head seal invalid (a forged or altered line)"
    token = record.get("checkpoint")
    if token is not None:
        try:
            claim = key.read_checkpoint(str(token))
        except AuditError as exc:
            return f"checkpoint {exc}"
        if (claim.seq, claim.hash) != (seq, digest):
            return "checkpoint does not match the head it was written with"
    return seq, digest
