"""Bounded JSON for what an agent reads from others: messages, tokens, model API bodies.

The same rules as the IAM's parser (RFC 8259 §9 limits; ``agents`` imports nothing from
``iam_core``, so this is its own small module): UTF-8, a size limit, a nesting depth counted
by a linear scan before decoding (so the decoder never recurses deeply), repeated member
names refused (RFC 7515 §5.2, RFC 7519 §4), no ``NaN``/``Infinity``. A refusal is a
:class:`JSONRefused` (a ``ValueError``).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

MAX_BYTES = 64 * 1024
MAX_DEPTH = 32
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.DOTALL)


class JSONRefused(ValueError):
    """Not JSON an agent accepts; ``str()`` says why."""


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for name, value in pairs:
        if name in result:
            raise JSONRefused(f"duplicate member name {name[:40]!r}")
        result[name] = value
    return result


def _constant(name: str) -> Any:
    raise JSONRefused(f"{name} is not JSON")


def loads(data: bytes | str, *, max_bytes: int = MAX_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse ``data`` within the limits; raises :class:`JSONRefused`."""
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        text = raw.decode("utf-8")
    except UnicodeError as exc:
        raise JSONRefused("JSON text is not UTF-8") from exc
    if len(raw) > max_bytes:
        raise JSONRefused(f"JSON text longer than {max_bytes} bytes")
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in ("[", "{"):
            depth += 1
            if depth > max_depth:
                raise JSONRefused(f"JSON nested deeper than {max_depth} levels")
        elif token in ("]", "}") and depth:
            depth -= 1
    try:
        return json.loads(text, object_pairs_hook=_object, parse_constant=_constant)
    except JSONRefused:
        raise
    except (ValueError, RecursionError) as exc:
        raise JSONRefused(f"not valid JSON: {exc}"[:200]) from exc


def jws_parts(token: str, *, max_length: int = 16 * 1024) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, read by :func:`loads` before any JOSE library
    sees the token (RFC 7515 §7.1); nothing in them is trusted until verified."""
    if len(token) > max_length or token.count(".") != 2:
        raise JSONRefused("not a compact JWS")
    parts = []
    for segment in token.split(".")[:2]:
        try:
            raw = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
        except (binascii.Error, ValueError) as exc:
            raise JSONRefused("a JWS segment is not base64url") from exc
        value = loads(raw, max_bytes=max_length)
        if not isinstance(value, dict):
            raise JSONRefused("JWS header and payload must be JSON objects")
        parts.append(value)
    return parts[0], parts[1]
