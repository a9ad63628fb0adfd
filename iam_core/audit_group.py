"""Group commit for the audit log: the entries of concurrent requests in one transaction.

The promise stays what it is with a plain ``AuditLog.append``: no decision is answered before
its entry is committed. :meth:`GroupCommitAppender.submit` queues an event and gives back a
future; a single writer, scheduled on the event loop, takes everything queued by then and
commits it with ``AuditLog.append_many`` (one transaction, the chain computed in order), then
resolves each future with its entry, or with the exception that made the batch fail. A caller
answers only after awaiting its future, so a response can never overtake its entry.

The writer runs on the loop itself, ``turns`` loop turns after the first entry was queued, so
that the requests that were ready together have queued theirs: no thread, and a lone request
pays a couple of loop turns (no sleep, no timer). Several processes appending to
one file stay serialised by the database transaction, as with ``append``; this object batches
within its own process only. Sync callers (and callers with no running loop) use
:meth:`append`, which commits at once as ``AuditLog.append`` does.
"""

from __future__ import annotations

import asyncio
import logging

from iam_core.audit import AuditEntry, AuditEvent, AuditLog

__all__ = ["GroupCommitAppender"]

_log = logging.getLogger(__name__)


class GroupCommitAppender:
    """Batches the appends of one event loop into one transaction each (module doc)."""

    def __init__(self, log: AuditLog, *, max_batch: int = 256, turns: int = 2) -> None:
        self.log = log
        self._max = max_batch
        self._turns = turns
        self._queue: list[tuple[AuditEvent, asyncio.Future[AuditEntry]]] = []
        self._scheduled = False
        self.batches = 0  # commits made, for tests and benchmarks
        self.entries = 0

    def reset_state(self) -> None:
        """Between runs: nothing may be queued (every request awaited its commit)."""
        if self._queue:
            raise RuntimeError("audit entries still queued: a run ended mid-request")
        self._scheduled = False
        self.batches = self.entries = 0

    def append(self, event: AuditEvent, /) -> AuditEntry:
        """Commit ``event`` now (the sync path: ``AuditLog.append``)."""
        return self.log.append(event)

    def submit(self, event: AuditEvent, /) -> asyncio.Future[AuditEntry]:
        """Queue ``event`` for the next group commit; await the result before answering."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[AuditEntry] = loop.create_future()
        self._queue.append((event, future))
        if not self._scheduled:
            self._scheduled = True
            # call_soon runs after the callbacks already ready in this turn, i.e. after the
            # other requests that were ready together have queued their entries too.
            loop.call_soon(self._flush, self._turns - 1)
        return future

    async def append_async(self, event: AuditEvent, /) -> AuditEntry:
        """Queue ``event`` and return once the batch holding it is committed."""
        return await self.submit(event)

    def _flush(self, turns: int = 0) -> None:
        if turns > 0:  # let requests that reach their decision a turn later join the batch
            asyncio.get_running_loop().call_soon(self._flush, turns - 1)
            return
        self._scheduled = False
        while self._queue:
            batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            self._commit(batch)

    def _commit(self, batch: list[tuple[AuditEvent, asyncio.Future[AuditEntry]]]) -> None:
        try:
            entries = self.log.append_many([event for event, _ in batch])
        except Exception as exc:  # noqa: BLE001 -- one bad event must not fail its neighbours
            if len(batch) > 1:
                for one in batch:
                    self._commit([one])
                return
            event, future = batch[0]
            _log.warning("audit append failed for %s: %s", event.event, exc)
            if not future.done():
                future.set_exception(exc)
            return
        self.batches += 1
        self.entries += len(entries)
        for (_, future), entry in zip(batch, entries, strict=True):
            if not future.done():  # a caller that went away (cancelled) needs no answer
                future.set_result(entry)
