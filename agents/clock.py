"""The time an agent runtime stamps on what it signs.

Client assertions (RFC 7523), DPoP proofs (RFC 9449), agent messages and the token cache's
expiry all read time through a :class:`Clock`, so a test can move the runtime's time along
with the IAM's instead of copying the signing code. ``agents`` may not import ``iam_core``
(tests/test_layering.py); ``iam_core.clock.ManualClock`` fits this Protocol all the same.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Seconds since the epoch, as a float."""

    def now(self) -> float: ...


class WallClock:
    """The system's wall clock: what a deployed runtime uses."""

    def now(self) -> float:
        return time.time()


WALL_CLOCK: Clock = WallClock()
