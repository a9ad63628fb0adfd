"""SCIM 2.0 (RFC 7643, RFC 7644): users and agents provisioned over HTTP.

* :mod:`~iam_core.scim.schemas` — the User and Agent schemas and the discovery documents;
* :mod:`~iam_core.scim.adapter` — the registry seen as SCIM resources, one backend per type;
* :mod:`~iam_core.scim.checks` — what a write must pass: canonical ids, tokens, keys;
* :mod:`~iam_core.scim.service` — the operations (RFC 7644 §3), meta and versions, auditing;
* :mod:`~iam_core.scim.routes` — the FastAPI router: authorization and SCIM Errors (§3.12).
"""

from iam_core.scim.routes import SCIM_SCOPE, scim_router

__all__ = ["SCIM_SCOPE", "scim_router"]
