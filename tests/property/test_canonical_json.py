"""The fast canonical path (orjson) writes exactly the bytes of the RFC 8785 reference
(``rfc8785``) over the fast domain, and the verification walk agrees with the reference walk.

Entries are audit-shaped: every member of an entry, text with non-ASCII and control
characters, and ``details`` nesting strings, integers, booleans, null, floats, lists and objects.
Values outside the fast domain must be refused by it (and so take the reference path).
Example counts come from the hypothesis profile loaded in tests/conftest.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from iam_core.audit_keys import (
    ENTRY_FIELDS,
    GENESIS_HASH,
    agrees_with_jcs,
    canonical_bytes,
    fast_canonical,
)
from iam_core.audit_verify import _body_problem, _reference_body_problem

SAFE = 2**53 - 1
# Any code point but lone surrogates (scrub turns those into U+FFFD before an append),
# with control characters, quotes, backslashes, U+2028/9 and astral characters made likely.
text = st.text(
    st.one_of(
        st.characters(exclude_categories=["Cs"]),
        st.sampled_from(["\x00", "\x1f", "\x7f", '"', "\\", "/", "\u2028", "\ufeff", "😀", "é"]),
    ),
    max_size=20,
)
in_range_floats = st.floats(allow_nan=False, allow_infinity=False).filter(
    lambda x: 1e-4 <= abs(x) < 1e16 and not x.is_integer()
)
scalars = st.one_of(st.none(), st.booleans(), text, st.integers(-SAFE, SAFE), in_range_floats)
ascii_keys = st.text(st.characters(max_codepoint=127), max_size=8)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(ascii_keys, inner, max_size=4),
    max_leaves=12,
)
opt_text = st.none() | text


@st.composite
def entries(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {name: draw(opt_text) for name in ENTRY_FIELDS}
    doc.update(
        seq=draw(st.integers(1, SAFE)),
        time=draw(st.integers(0, 2**40) | in_range_floats),
        act=draw(st.lists(text, max_size=3)),
        details=draw(st.dictionaries(ascii_keys, values, max_size=5)),
        prev_hash=GENESIS_HASH,
    )
    return doc


@given(entries())
def test_fast_path_writes_the_reference_bytes(doc: dict[str, Any]) -> None:
    assert agrees_with_jcs(doc)
    assert fast_canonical(doc) == rfc8785.dumps(doc)
    assert canonical_bytes(doc, agrees=True) == rfc8785.dumps(doc)


@given(entries())
def test_fast_walk_agrees_with_the_reference_walk(doc: dict[str, Any]) -> None:
    body = rfc8785.dumps(doc)
    assert _body_problem(doc["seq"], body, GENESIS_HASH) == (None, doc)
    assert _reference_body_problem(doc["seq"], body, GENESIS_HASH) == (None, doc)
    # the same entry written non-canonically (orjson's insertion order, or indented) fails both
    for other in (orjson.dumps(doc), orjson.dumps(doc, option=orjson.OPT_INDENT_2)):
        if other != body:
            assert _body_problem(doc["seq"], other, GENESIS_HASH)[0] is not None
            assert _reference_body_problem(doc["seq"], other, GENESIS_HASH)[0] is not None


# Built without filters (a filtered strategy trips hypothesis's health check under the CI profile).
outside = st.one_of(
    st.integers(min_value=SAFE + 1),
    st.integers(max_value=-SAFE - 1),
    st.integers(-(2**20), 2**20).map(float),  # whole-number floats
    st.floats(min_value=0.0, max_value=1e-4, exclude_max=True),
    st.floats(min_value=1e16),
    st.floats(max_value=-1e16),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), -0.0, 5e-5, -3e-9]),
    st.dictionaries(st.text(st.characters(min_codepoint=128), min_size=1), st.none(), min_size=1),
    st.tuples(st.integers()),
    st.binary(),
)


@given(outside)
def test_values_outside_the_fast_domain_are_refused_by_it(value: object) -> None:
    assert not agrees_with_jcs(value)
    assert not agrees_with_jcs({"details": [value]})
    assert fast_canonical({"details": value}) is None


@given(entries(), outside)
def test_a_body_outside_the_domain_is_judged_by_the_reference(
    doc: dict[str, Any], value: Any
) -> None:
    doc["details"] = {"x": value}
    try:
        body = rfc8785.dumps(doc)
    except (rfc8785.CanonicalizationError, TypeError, ValueError):
        return  # not representable at all: append refuses it (AuditError)
    fast, reference = (
        check(doc["seq"], body, GENESIS_HASH) for check in (_body_problem, _reference_body_problem)
    )
    assert (fast[0] is None) == (reference[0] is None)
