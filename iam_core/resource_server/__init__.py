"""The resource-server kit: the public surface any service protected by this IAM needs.

A resource server in another company would have only what is exported here: token
verification against the issuer's JWKS (RFC 9068, RFC 7517), DPoP proof verification
(RFC 9449), the revocation-event receiver (RFC 8417/8936), RFC 6750 errors, time, trace ids,
and the Protocols of what the composition root hands in (an audit sink, a quota store, a SQL
store for the service's own business data). ``hotel/`` imports nothing else from
``iam_core`` (``tests/test_layering.py`` enforces the list).
"""

from __future__ import annotations

from iam_core.clock import Clock, ManualClock, SystemClock

__all__ = ["Clock", "ManualClock", "SystemClock"]
