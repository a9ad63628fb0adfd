"""The resource-server kit: the public surface any service protected by this IAM needs.

A resource server in another company would have only what is exported here: token
verification against the issuer's JWKS (RFC 9068, RFC 7517), DPoP proof verification
(RFC 9449), the revocation-event receiver (RFC 8417/8936), RFC 6750 errors that build their
own ``WWW-Authenticate``, time, trace ids, the bounded JSON parser, the streaming body
limit and the storage-failure answers, the issuer's policy as the service sees it
(:class:`ResourcePolicy`), and the Protocols of what the composition root hands in (an audit
sink, a quota store, a revocation feed, a SQL store for the service's own business data).
``hotel/`` imports nothing else from ``iam_core`` (``tests/test_layering.py`` enforces it).

The implementations live where the IAM uses them too and are re-exported here; this package
adds only what is the service's alone (the policy view, the poller, the Protocols, the
claims of the acting agent).
"""

from __future__ import annotations

from iam_core.approval_policy import ApprovalPolicy, ApprovalRequired
from iam_core.audit import AuditEvent
from iam_core.audit_group import GroupCommitAppender
from iam_core.clock import Clock, ManualClock, SystemClock
from iam_core.dpop import (
    DPoPNonces,
    DPoPProof,
    DPoPVerifier,
    NonceRequired,
    ReplayCache,
    check_binding,
)
from iam_core.errors import (
    BearerError,
    CredentialsRequired,
    DPoPNonceChallenge,
    InsufficientScope,
    InvalidRequest,
    InvalidToken,
    TemporarilyUnavailable,
    TokenError,
    description_text,
)
from iam_core.events import RevokedTokens, SecurityEvent
from iam_core.jwks_client import RemoteJWKS
from iam_core.limits import (
    STORAGE_ERRORS,
    BodyLimit,
    bounded_int,
    find_cause,
    health_response,
    probe_storage,
    storage_unavailable,
)
from iam_core.policy import format_scope
from iam_core.quota import Quota, QuotaSpec
from iam_core.resource_server.nonce_header import DPoPNonceHeader
from iam_core.resource_server.policy import ResourcePolicy
from iam_core.resource_server.protocols import (
    AuditSink,
    QuotaStore,
    Row,
    SecurityEventSource,
    SQLStore,
    Tx,
)
from iam_core.resource_server.revocation_feed import SetPoller, polling
from iam_core.safe_json import JSONRefused
from iam_core.safe_json import loads as bounded_json
from iam_core.tokens import (
    ACTOR_ROLES_CLAIM,
    Token,
    TokenType,
    TokenVerifier,
    audience_matches,
    parse_compact,
)
from iam_core.trace import current_trace_id, parse_traceparent

__all__ = [
    "ACTOR_ROLES_CLAIM",
    "STORAGE_ERRORS",
    "ApprovalPolicy",
    "ApprovalRequired",
    "AuditEvent",
    "AuditSink",
    "BearerError",
    "BodyLimit",
    "Clock",
    "CredentialsRequired",
    "DPoPNonceChallenge",
    "DPoPNonceHeader",
    "DPoPNonces",
    "DPoPProof",
    "DPoPVerifier",
    "GroupCommitAppender",
    "InsufficientScope",
    "InvalidRequest",
    "InvalidToken",
    "JSONRefused",
    "ManualClock",
    "NonceRequired",
    "Quota",
    "QuotaSpec",
    "QuotaStore",
    "RemoteJWKS",
    "ReplayCache",
    "ResourcePolicy",
    "RevokedTokens",
    "Row",
    "SQLStore",
    "SecurityEvent",
    "SecurityEventSource",
    "SetPoller",
    "SystemClock",
    "TemporarilyUnavailable",
    "Token",
    "TokenError",
    "TokenType",
    "TokenVerifier",
    "Tx",
    "audience_matches",
    "bounded_int",
    "bounded_json",
    "check_binding",
    "current_trace_id",
    "description_text",
    "find_cause",
    "format_scope",
    "health_response",
    "parse_compact",
    "parse_traceparent",
    "polling",
    "probe_storage",
    "storage_unavailable",
]
