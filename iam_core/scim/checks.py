"""The checks a SCIM write passes before anything is stored (RFC 7643 §2, §4; RFC 7644 §3.3).

Identifiers go through :mod:`iam_core.identifiers` (docs/attacks.md, look-alike identifiers);
roles and scopes must be RFC 6749 §3.3 scope-tokens; keys must be usable public JWKs.
"""

from __future__ import annotations

import re
from typing import Any

from iam_core import identifiers
from iam_core import registry as reg
from iam_core.errors import ScimError
from iam_core.keys import verification_key_from_jwk
from iam_core.scim.schemas import Jwk, Owner, Role

PASSWORD_LENGTHS = (8, 256)
# Roles and scopes are stored space-separated: RFC 6749 §3.3 scope-token characters only.
_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]{1,128}")


def new_identifier(registry: reg.Registry, value: str | None, attribute: str) -> str:
    """The canonical id of a new identity (docs/attacks.md, look-alike identifiers).

    Hidden characters are 400 invalidValue; an id equal to, or looking like, a registered
    one (case, width, TR39 §4 confusables) is 409 uniqueness (RFC 7644 §3.3), checked before
    the id's shape so that a Cyrillic look-alike is named as the collision it is.
    """
    try:
        canonical = identifiers.canonical(value or "")
    except identifiers.InvalidIdentifier as exc:
        raise ScimError(400, f"{attribute}: {exc}", "invalidValue") from exc
    existing = registry.lookalike(canonical)
    if existing is not None:
        raise ScimError(409, f"{attribute} {canonical!r} looks like {existing!r}", "uniqueness")
    if not identifiers.well_formed(canonical):
        raise ScimError(400, f"{attribute} must be {identifiers.IDENTIFIER_RULE}", "invalidValue")
    return canonical


def owner_id(owner: Owner | None) -> str:
    """The owning user's id; a $ref must point at that same user (RFC 7643 §4.3 manager)."""
    value = owner.value if owner else None
    if not value:
        raise ScimError(400, "owner.value is required", "invalidValue")
    ref = str(owner.ref) if owner and owner.ref else ""
    if ref and ref.rstrip("/").rsplit("/", 1)[-1] != value:
        raise ScimError(400, "owner.$ref and owner.value name different users", "invalidValue")
    if ref and "/Users/" not in ref:
        raise ScimError(400, "owner.$ref must reference a User", "invalidValue")
    return value


def tokens(values: list[Role] | list[str] | None, attribute: str) -> tuple[str, ...]:
    tokens: set[str] = set()
    for value in values or ():
        token = value.value if isinstance(value, Role) else value
        if not isinstance(token, str) or not _TOKEN.fullmatch(token):
            raise ScimError(
                400, f"each {attribute} value must be a scope-token (RFC 6749 §3.3)", "invalidValue"
            )
        tokens.add(token)
    return tuple(sorted(tokens))


def public_jwk(jwk: Jwk) -> dict[str, Any]:
    data = {k: v for k, v in jwk.model_dump(exclude_none=True).items() if k != "schemas"}
    try:
        verification_key_from_jwk(data)
    except Exception as exc:  # PyJWT and cryptography raise several unrelated types
        raise ScimError(400, f"unusable JWK: {str(exc)[:200]}", "invalidValue") from exc
    return data


def password(password: str) -> str:
    low, high = PASSWORD_LENGTHS
    if not low <= len(password) <= high:
        raise ScimError(400, f"password must be {low} to {high} characters", "invalidValue")
    return password
