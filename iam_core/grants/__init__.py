"""The token endpoint's grants (RFC 6749 §4, §5), one module per grant type.

* ``client_credentials`` (RFC 6749 §4.4) — Agent tokens for agents (private_key_jwt),
  App tokens for apps (client_secret_basic).
* ``authorization_code`` (RFC 6749 §4.1.3, RFC 7636) — User tokens; with a code bound to a
  requested actor, OBO tokens redeemed with that actor's ``actor_token``
  (draft-oauth-ai-agents-on-behalf-of-user-02 §5).
* ``token_exchange`` (RFC 8693 §2) — OBO tokens from a user or OBO ``subject_token`` and an
  agent ``actor_token``; a new actor nests ``act`` (§4.1) and only narrows.
* ``handoff`` — a token exchange with an ``audience``: the current actor hands part of its
  delegation to another agent (RFC 8693 §4.4 ``may_act``).

:mod:`~iam_core.grants.endpoint` runs them: client authentication, quotas, the audit entry.
"""

from iam_core.grants.endpoint import TokenEndpoint
from iam_core.grants.issue import (
    ACCESS_TOKEN_TYPE,
    JWT_TOKEN_TYPE,
    SUBJECT_TOKEN_TYPES,
    Grant,
    Issued,
    UserClaims,
)

__all__ = [
    "ACCESS_TOKEN_TYPE",
    "JWT_TOKEN_TYPE",
    "SUBJECT_TOKEN_TYPES",
    "Grant",
    "Issued",
    "TokenEndpoint",
    "UserClaims",
]
