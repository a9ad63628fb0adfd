"""The one JSON parser for everything that arrives from outside: bounded in size and depth.

RFC 8259 §9 lets a parser limit the size of texts and the depth of nesting, and §4 leaves
duplicate member names undefined. Python's ``json`` module recurses once per nesting level,
so ~5,000 nested ``[`` in a token segment or a body raised ``RecursionError`` — a 500 on
any route that parsed it. Every JSON the project reads from a request (token header and
payload, DPoP proofs, client assertions, Security Event Tokens, request bodies, SCIM, the
``authorization_details`` parameter) goes through :func:`loads`:

* the text must be UTF-8 (RFC 8259 §8.1) and at most ``max_bytes`` long;
* its nesting depth is counted first by a linear scan that skips string contents, without
  recursion, and must stay at or below ``max_depth`` — so the decoder's own recursion is
  never deep;
* a member name repeated in an object is refused (RFC 7515 §5.2 and RFC 7519 §4 require it
  of JOSE headers and claims sets; we require it everywhere, so that two readers of the
  same text can never see different values);
* ``NaN`` and ``Infinity`` are refused (not JSON).

A refusal raises :class:`JSONRefused`, a ``ValueError``, which every caller already maps to
its endpoint's normal 400/401 answer.
"""

from __future__ import annotations

import json
import re
from typing import Any

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32

# A JSON string (RFC 8259 §7, unrolled so that matching is linear) or a bracket.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JSONRefused(ValueError):
    """The text is not JSON this project accepts; ``str()`` says why."""


def nesting_depth(text: str) -> int:
    """The deepest nesting of arrays and objects in ``text``, counted without recursion."""
    depth = deepest = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            deepest = max(deepest, depth)
        elif (token == "]" or token == "}") and depth:
            depth -= 1
    return deepest


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise JSONRefused(f"duplicate member name {name[:40]!r}")
        result[name] = value
    return result


def _constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not JSON (RFC 8259 §6)")


def loads(data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` within the limits above; raises :class:`JSONRefused`."""
    if len(data) > max_bytes:
        raise JSONRefused(f"JSON text longer than {max_bytes} bytes")
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONRefused("JSON text is not UTF-8 (RFC 8259 §8.1)") from exc
    else:
        text = data
    if len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise JSONRefused(f"JSON text longer than {max_bytes} bytes")
    if nesting_depth(text) > max_depth:
        raise JSONRefused(f"JSON nested deeper than {max_depth} levels")
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except JSONRefused:
        raise
    except (ValueError, RecursionError) as exc:  # RecursionError: unreachable, kept closed
        raise JSONRefused(f"not valid JSON: {exc}"[:200]) from exc


def loads_object(data: bytes | str, **limits: int) -> dict[str, Any]:
    """:func:`loads` for a text that must be a JSON object."""
    value = loads(data, **limits)
    if not isinstance(value, dict):
        raise JSONRefused("a JSON object is required")
    return value
