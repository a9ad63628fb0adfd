"""What the embedded model reads in a conversation, besides the user's request.

``planner.py`` decides the next step; this module hands it what the conversation already
says: the last user message, the results of the model's own earlier tool calls (recognised
by their ids, ``call-<intent>-<step>``), the instructions planted in tool output that an
``obedient`` model takes for requests, and any credential visible in the messages. Reading
is kept apart from planning because it is where attacker text enters the model: every
string here may be an attacker's, so parsing is bounded (``json_limits``) and the secret
pattern is linear on hostile text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agents.json_limits import loads as bounded_json
from agents.llm.understanding import Intent, acts, gist, understand

MAX_INJECTED = 4  # planted instructions an obedient model takes up since the request


@dataclass(frozen=True, slots=True)
class Result:
    """What one of the model's own tool calls returned: ``data``, or the error when not ok."""

    ok: bool
    data: Any


def last_user(messages: Sequence[Mapping[str, Any]]) -> int | None:
    """The index of the last user message: the request the model is working on."""
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    return users[-1] if users else None


def text_of(message: Mapping[str, Any]) -> str:
    """A message's text, whether its content is a string or a list of parts."""
    content = message.get("content")
    if isinstance(content, list):  # content parts
        return " ".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
    return str(content or "")


def history(after: Sequence[Mapping[str, Any]]) -> tuple[dict[str, Result], set[str]]:
    """Results of this model's own earlier calls, by step key, and every text it sent."""
    keys: dict[str, str] = {}
    sent: set[str] = set()
    done: dict[str, Result] = {}
    for message in after:
        for call in message.get("tool_calls") or ():
            call_id = str(call.get("id", ""))
            if call_id.startswith("call-"):
                keys[call_id] = call_id.removeprefix("call-")
            try:
                args = bounded_json(
                    call.get("function", {}).get("arguments") or "{}", max_bytes=1024 * 1024
                )
            except ValueError:
                args = {}
            if isinstance(args, Mapping):
                sent |= {v for v in args.values() if isinstance(v, str)}
        if message.get("role") == "tool" and message.get("tool_call_id") in keys:
            done[keys[str(message["tool_call_id"])]] = _result(text_of(message))
    return done, sent


def _result(text: str) -> Result:
    try:
        data = bounded_json(text, max_bytes=1024 * 1024)
    except ValueError:
        return Result(False, text)
    if isinstance(data, Mapping) and "ok" in data:
        return Result(bool(data["ok"]), data.get("data", data.get("error")))
    return Result(True, data)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def injected(after: Sequence[Mapping[str, Any]], own_words: set[str]) -> list[tuple[str, Intent]]:
    """Instructions planted in tool output, in the order they were read (obedient only); two
    texts read in a row also together, when only together they make a different order."""
    found: list[tuple[str, Intent]] = []
    for j, message in enumerate(after):
        if message.get("role") != "tool":
            continue
        result = _result(text_of(message))
        if not result.ok:
            continue  # a refusal is the system's answer, not someone's words
        previous: tuple[str, Intent] | None = None
        for n, text in enumerate(_strings(result.data)):
            if text in own_words or len(text.split()) < 4:
                continue
            intent = understand(text)
            if previous is not None and (previous[1].actions or intent.actions):
                joined = understand(f"{previous[0]}\n{text}")
                if acts(joined) and gist(joined) not in (gist(previous[1]), gist(intent)):
                    found.append((f"i{j}.{n}j", joined))
            previous = (text, intent)
            if acts(intent):
                found.append((f"i{j}.{n}", intent))
            if len(found) >= MAX_INJECTED:
                return found[:MAX_INJECTED]
    return found


# Each run starts at its token's start and is possessive: linear on hostile text.
_SECRET = re.compile(
    r"Bearer ([A-Za-z0-9._~+/-]{16,}+)"
    r"|(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]++\.[A-Za-z0-9_-]++\.[A-Za-z0-9_-]*+)"
)


def credentials(messages: Sequence[Mapping[str, Any]]) -> list[str]:
    """Credentials visible anywhere in the conversation (the baseline puts its key in the
    system prompt; agent IAM keeps every token in the tools)."""
    found: list[str] = []
    for message in messages:
        for m in _SECRET.finditer(text_of(message)):
            value = m.group(1) or m.group(2)
            if value not in found:
                found.append(value)
    return found
