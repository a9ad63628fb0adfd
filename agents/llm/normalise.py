"""What a replay compares: a model request with its time-dependent values normalised.

A recorded run and its replay happen at different times and draw different random numbers,
so the requests an agent sends its model differ in a few values that say nothing about
what the agent did: the ``created_at`` stamp of a booking in a tool result, a token's
``iat``/``exp``, a ``jti``, a CIBA ``auth_req_id``, a DPoP ``nonce``, a W3C trace id. Those
values — and only those — are replaced by a placeholder before two requests are compared:

* a value under a key of :data:`TIME_FIELDS` that *looks like* a time (an RFC 3339 / ISO
  8601 date-time, or a number) becomes ``"<time>"``;
* a string under a key of :data:`RANDOM_FIELDS` becomes ``"<random>"``.

The rule is by field, not by value: a date-time in free text, a changed ``hotel_id`` or a
``null`` where a stamp was are still differences (tests/agents/test_normalise.py shows with
hypothesis that no change outside those fields is hidden). Ids the hotel derives from the
world's seed (``bk-…``, ``hold-…``) are *not* normalised: a replay runs the recorded seed,
so they are equal, and a different id is a real divergence.

Tool results and tool-call arguments reach the model as JSON *text* inside a string; a
string that holds a JSON object or array written by ``json.dumps`` (with its default or
compact separators) is compared as JSON — its encoding and key order too, so that equal
normalised values mean equal texts but for the normalised fields — and the stamp inside it
is named by its path: ``$.messages[8].content{json}.data.created_at``. Any other string is
compared as it is. JSON paths follow RFC 9535's normalized-path shape (``$``, ``.name``,
``[i]``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

# Keys whose values are times: wall-clock stamps (the hotel's records, audit entries, SCIM
# meta), JWT time claims (RFC 7519 §4.1.4-6) and lifetimes counted from now.
TIME_FIELDS = frozenset(
    {
        "created_at",
        "updated_at",
        "expires_at",
        "issued_at",
        "requested_at",
        "granted_at",
        "activated_at",
        "retired_at",
        "revoked_at",
        "consumed_at",
        "decided_at",
        "time",
        "timestamp",
        "event_timestamp",
        "lastModified",
        "iat",
        "exp",
        "nbf",
        "auth_time",
        "expires_in",
    }
)
# Keys whose values are drawn at random: JWT ids (RFC 7519 §4.1.7), CIBA request ids
# (OpenID CIBA §7.3), DPoP nonces (RFC 9449 §8), OAuth state, W3C trace context ids, the
# task a token was issued within (its task token's jti, docs/design.md §3.2).
RANDOM_FIELDS = frozenset(
    {
        "jti",
        "issued_jti",
        "task_jti",
        "nonce",
        "auth_req_id",
        "state",
        "trace_id",
        "current_trace_id",
    }
)
TIME = "<time>"
RANDOM = "<random>"
_DATE_TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?", re.IGNORECASE
)


@dataclass(frozen=True)
class JsonText:
    """A string that held JSON: its parsed (and normalised) value, and how it was encoded."""

    value: Any
    encoding: int  # the index in _ENCODINGS of the json.dumps style that wrote it exactly


# The styles of ``json.dumps`` that a text must match exactly to be compared as JSON: then
# the text is a function of (value, encoding), so comparing those hides nothing else.
_ENCODINGS: tuple[dict[str, Any], ...] = (
    {},
    {"separators": (",", ":")},
    {"ensure_ascii": False},
    {"ensure_ascii": False, "separators": (",", ":")},
)


def is_time(value: Any) -> bool:
    """A date-time (RFC 3339 §5.6, or ISO 8601 with a space) or a number (epoch seconds)."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int | float):
        return True
    return isinstance(value, str) and _DATE_TIME.fullmatch(value.strip()) is not None


def normalise(value: Any) -> Any:
    """``value`` with time-dependent fields replaced, and JSON texts parsed (recursively)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in TIME_FIELDS and is_time(item):
                out[key] = TIME
            elif key in RANDOM_FIELDS and isinstance(item, str):
                out[key] = RANDOM
            else:
                out[key] = normalise(item)
        return out
    if isinstance(value, list):
        return [normalise(item) for item in value]
    if isinstance(value, str):
        return _json_text(value) or value
    return value


def _json_text(text: str) -> JsonText | None:
    """The object or array a string holds, when ``json.dumps`` wrote it; else None."""
    if not text.startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict | list):
        return None
    for index, style in enumerate(_ENCODINGS):
        if json.dumps(parsed, **style) == text:
            return JsonText(normalise(parsed), index)
    return None


@dataclass(frozen=True)
class Difference:
    """Where two normalised values first differ: a JSON path and the two values."""

    path: str
    recorded: Any
    asked: Any

    def describe(self, limit: int = 160) -> str:
        return (
            f"{self.path}: recorded {_show(self.recorded, limit)}, "
            f"this run {_show(self.asked, limit)}"
        )


ABSENT = object()  # a key one side has and the other has not


def _show(value: Any, limit: int) -> str:
    if value is ABSENT:
        return "(absent)"
    if isinstance(value, JsonText):
        value = _plain(value)
    text = json.dumps(_plain(value), ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plain(value: Any) -> Any:
    if isinstance(value, JsonText):
        return _plain(value.value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def first_difference(recorded: Any, asked: Any) -> Difference | None:
    """The first place (in document order) where the two differ after :func:`normalise`."""
    return _diff(normalise(recorded), normalise(asked), "$", ordered=False)


def _step(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        return f"{path}.{key}"
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def _diff(a: Any, b: Any, path: str, *, ordered: bool) -> Difference | None:
    """``ordered``: inside a JSON text, where key order is part of what the model reads
    (the request body itself is JSON to a server, whose key order means nothing)."""
    if isinstance(a, JsonText) and isinstance(b, JsonText):
        found = _diff(a.value, b.value, path + "{json}", ordered=True)
        if found is None and a.encoding != b.encoding:
            return Difference(
                path + " (JSON encoding)", _ENCODINGS[a.encoding], _ENCODINGS[b.encoding]
            )
        return found
    if isinstance(a, dict) and isinstance(b, dict):
        for key in [*a, *(k for k in b if k not in a)]:
            if key not in a or key not in b:
                return Difference(_step(path, key), a.get(key, ABSENT), b.get(key, ABSENT))
            found = _diff(a[key], b[key], _step(path, key), ordered=ordered)
            if found:
                return found
        if ordered and list(a) != list(b):  # the same keys in another order: another text
            return Difference(path + " (key order)", list(a), list(b))
        return None
    if isinstance(a, list) and isinstance(b, list):
        for index, (x, y) in enumerate(zip(a, b, strict=False)):
            found = _diff(x, y, _step(path, index), ordered=ordered)
            if found:
                return found
        if len(a) != len(b):
            n = min(len(a), len(b))
            return Difference(
                _step(path, n), a[n] if n < len(a) else ABSENT, b[n] if n < len(b) else ABSENT
            )
        return None
    # JSON keeps true, 1 and 1.0 (and -0.0 and 0.0) apart; Python's == would not.
    if type(a) is not type(b) or a != b or (isinstance(a, float) and repr(a) != repr(b)):
        return Difference(path, a, b)
    return None
