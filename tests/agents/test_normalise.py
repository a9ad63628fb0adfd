"""What a replay compares: normalisation hides time fields, and nothing else.

Documents are generated as trees in which some subtrees are JSON *text* (as tool results
reach a model: ``json.dumps`` inside a string). Hypothesis changes one leaf outside every
time and random field — the difference is found, at that leaf's path, with both values —
or changes only time-field stamps and random ids — no difference is found.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import assume, given
from hypothesis import strategies as st

from agents.llm.normalise import RANDOM_FIELDS, TIME_FIELDS, first_difference, normalise


@dataclass(frozen=True)
class Text:
    """A subtree written into a string with json.dumps (how tool results travel)."""

    tree: Any


def render(tree: Any) -> Any:
    if isinstance(tree, Text):
        return json.dumps(render(tree.tree))
    if isinstance(tree, dict):
        return {k: render(v) for k, v in tree.items()}
    if isinstance(tree, list):
        return [render(v) for v in tree]
    return tree


STAMPS = st.sampled_from(
    ["2026-12-04T10:18:33.090085+00:00", "2026-12-04T10:19:47Z", "2026-12-04 10:20:00"]
) | st.integers(1_700_000_000, 1_900_000_000)
# Keys mix ordinary names with the time and random ones, so every rule is exercised.
KEYS = st.sampled_from(["id", "name", "data", "hotel_id", "content", "exp", "created_at", "jti"])
KEYS |= st.text(min_size=1, max_size=6)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    # A string holding a JSON object or array is a JSON text: those are the Text nodes.
    | st.text(max_size=12).filter(lambda t: not t.startswith(("{", "[")))
    | STAMPS
)


def containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    inner = st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=4)
    return inner | inner.map(Text)


TREES = st.recursive(SCALARS, containers, max_leaves=25)


Leaf = tuple[str, Any, bool, Any]  # JSON path, value, under a time/random key, its own key


def paths(tree: Any, path: str = "$", shielded: bool = False, key: Any = None) -> list[Leaf]:
    """Every leaf, with its JSON path as normalise names it."""
    if isinstance(tree, Text):
        return paths(tree.tree, path + "{json}", shielded, key)
    if isinstance(tree, dict):
        out = []
        for name, value in tree.items():
            step = f"{path}.{name}" if name.isidentifier() and name.isascii() else None
            step = step or f"{path}[{json.dumps(name, ensure_ascii=False)}]"
            special = name in TIME_FIELDS or name in RANDOM_FIELDS
            out += paths(value, step, shielded or special, name)
        return out
    if isinstance(tree, list):
        return [p for i, v in enumerate(tree) for p in paths(v, f"{path}[{i}]", shielded)]
    return [(path, tree, shielded, key)]


def replace_leaf(tree: Any, target: str, new: Any, path: str = "$") -> Any:
    if isinstance(tree, Text):
        return Text(replace_leaf(tree.tree, target, new, path + "{json}"))
    if isinstance(tree, dict):
        out = {}
        for key, value in tree.items():
            step = f"{path}.{key}" if key.isidentifier() and key.isascii() else None
            step = step or f"{path}[{json.dumps(key, ensure_ascii=False)}]"
            out[key] = replace_leaf(value, target, new, step)
        return out
    if isinstance(tree, list):
        return [replace_leaf(v, target, new, f"{path}[{i}]") for i, v in enumerate(tree)]
    return new if path == target else tree


def same_json(a: Any, b: Any) -> bool:
    return type(a) is type(b) and json.dumps(a) == json.dumps(b)


@given(TREES, st.data())
def test_a_change_outside_time_fields_is_always_found_with_its_path_and_values(
    tree: Any, data: st.DataObject
) -> None:
    """Normalisation never hides a difference in a non-time field."""
    open_leaves = [(p, leaf) for p, leaf, shielded, _ in paths(tree) if not shielded]
    assume(open_leaves)
    path, old = data.draw(st.sampled_from(open_leaves))
    new = data.draw(SCALARS.filter(lambda v: not same_json(v, old)))
    recorded, asked = render(tree), render(replace_leaf(tree, path, new))
    found = first_difference(recorded, asked)
    assert found is not None
    assert found.path == path
    assert same_json(found.recorded, old) and same_json(found.asked, new)


@given(TREES, st.data())
def test_changed_stamps_and_random_ids_are_never_a_difference(
    tree: Any, data: st.DataObject
) -> None:
    """Every time-shaped value under a time field, every string under a random field."""
    changed = tree
    for path, leaf, shielded, key in paths(tree):
        if shielded and key in TIME_FIELDS and normalise({key: leaf}) == {key: "<time>"}:
            changed = replace_leaf(changed, path, data.draw(STAMPS))
        elif shielded and key in RANDOM_FIELDS and isinstance(leaf, str):
            changed = replace_leaf(changed, path, data.draw(st.text(max_size=8)))
    assert first_difference(render(tree), render(changed)) is None


def test_a_stamp_in_a_tool_result_is_normalised_where_it_is_a_field() -> None:
    def result(stamp: str, extra: str = "") -> dict[str, Any]:
        data = {"id": "bk-1", "created_at": stamp, "note": f"made at {stamp}{extra}"}
        return {"messages": [{"role": "tool", "content": json.dumps({"data": data})}]}

    early, late = "2026-12-04T10:18:33+00:00", "2026-12-04T11:18:33+00:00"
    same = result(early)
    same["messages"][0]["content"] = same["messages"][0]["content"].replace(
        f'"created_at": "{early}"', f'"created_at": "{late}"'
    )
    assert first_difference(result(early), same) is None
    # The same instant in free text is text: a difference, named.
    found = first_difference(result(early), result(late))
    assert found is not None and found.path == "$.messages[0].content{json}.data.note"
    # A stamp that became null, or a card's "exp" that is not a time, are differences too.
    gone = {"created_at": None}
    assert first_difference({"created_at": early}, gone) is not None
    assert first_difference({"exp": "12/29"}, {"exp": "01/30"}) is not None


def test_key_order_and_encoding_inside_a_json_text_are_differences() -> None:
    a = {"content": json.dumps({"a": 1, "b": 2})}
    reordered = {"content": json.dumps({"b": 2, "a": 1})}
    compact = {"content": json.dumps({"a": 1, "b": 2}, separators=(",", ":"))}
    found = first_difference(a, reordered)
    assert found is not None and found.path == "$.content{json} (key order)"
    found = first_difference(a, compact)
    assert found is not None and found.path == "$.content (JSON encoding)"
    # In the request body itself (JSON to a server) key order means nothing.
    assert first_difference({"a": 1, "b": 2}, {"b": 2, "a": 1}) is None
