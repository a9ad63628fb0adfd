"""Reusing a built stack for many runs: every component that keeps state in memory resets it.

Building the applications (FastAPI routes, middleware, guards, compiled agent graphs, keys)
costs far more than a run itself, so a simulation builds them once per process and gives each
run a fresh *state*: the database restored from a seeded template (:meth:`Store.restore`) and
every in-memory cache emptied by its own ``reset_state()`` — revocation and replay caches,
JWKS and token caches, quotas, login throttles, event waiters.

What must be reset is found, not listed: :func:`resettables` walks the object graph reachable
from the stack's roots (attributes, containers, closures of route handlers) and returns every
object with a ``reset_state`` method. :func:`fingerprint` walks the same graph and records the
in-memory state of every object of this project's packages, so a test can compare the state
after ``run, reset`` with the state after ``build``: a new cache without ``reset_state`` shows
up as a difference (tests/scenarios/test_stack_reuse.py).
"""

from __future__ import annotations

import collections
import gc
import random
import types
from collections.abc import Iterable, Iterator
from typing import Protocol, runtime_checkable

# The packages whose objects keep the deployment's state (their state is fingerprinted).
OWN_PACKAGES = ("iam_core", "hotel", "agents", "scenarios")
_LEAVES = (str, bytes, int, float, bool, complex, type(None), range, slice)
_SKIP = (types.ModuleType, type, types.CodeType, types.FrameType, types.BuiltinFunctionType)
# Attributes that change while a run works but carry nothing from one run to the next.
TRANSIENT = {
    ("Store", "_in_tx"),  # 0 between transactions: runs never reset mid-transaction
    # The run's model is the caller's (a model per batch of runs), its statistics too.
    ("ChatModel", "calls"),
    ("ChatModel", "seconds"),
}


@runtime_checkable
class Resettable(Protocol):
    """A component with in-memory state that a reused stack must forget between runs."""

    def reset_state(self) -> None: ...


def _own(obj: object) -> bool:
    module = type(obj).__module__ or ""
    return module.split(".", 1)[0] in OWN_PACKAGES


def _children(obj: object) -> Iterable[object]:
    if isinstance(obj, dict):
        if "__builtins__" in obj or ("__name__" in obj and "__loader__" in obj):
            return ()  # a module's globals: module state is not a stack's
        return [*obj.keys(), *obj.values()]
    if isinstance(obj, list | tuple | set | frozenset | collections.deque):
        return list(obj)
    if isinstance(obj, types.FunctionType):
        cells = [c.cell_contents for c in obj.__closure__ or () if _filled(c)]
        return [*cells, obj.__defaults__, obj.__kwdefaults__]
    if isinstance(obj, types.MethodType):
        return [obj.__self__, obj.__func__]
    return gc.get_referents(obj)


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 — an empty cell raises
    except ValueError:
        return False
    return True


def walk(roots: Iterable[object], limit: int = 2_000_000) -> Iterator[object]:
    """Every object reachable from ``roots`` (not through modules, classes or code)."""
    seen: set[int] = set()
    stack = list(roots)
    while stack:
        obj = stack.pop()
        if isinstance(obj, _LEAVES + _SKIP) or id(obj) in seen:
            continue
        seen.add(id(obj))
        if len(seen) > limit:
            raise RuntimeError("the stack's object graph is larger than expected")
        yield obj
        stack.extend(_children(obj))


def resettables(roots: Iterable[object]) -> list[Resettable]:
    """Every object reachable from ``roots`` that resets its own state, once each."""
    return [obj for obj in walk(roots) if _own(obj) and isinstance(obj, Resettable)]


def fingerprint(roots: Iterable[object]) -> dict[str, object]:
    """The in-memory state of every project object reachable from ``roots``, by identity.

    For each attribute: its value if a scalar, else its type and size (and the scalar keys
    or items of a container) — enough to see a cache that kept entries, a counter that kept
    counting, a timestamp that kept its time.
    """
    out: dict[str, object] = {}
    for obj in walk(roots):
        if not _own(obj) or isinstance(obj, type):
            continue
        name = type(obj).__qualname__
        for attr, value in _attributes(obj):
            if (name, attr) not in TRANSIENT:
                out[f"{name}@{id(obj):x}.{attr}"] = _summary(value)
    return out


def _attributes(obj: object) -> Iterator[tuple[str, object]]:
    for cls in type(obj).__mro__:
        for slot in getattr(cls, "__slots__", ()):
            if hasattr(obj, slot):
                yield slot, getattr(obj, slot)
    yield from getattr(obj, "__dict__", {}).items()


def _summary(value: object) -> object:
    if isinstance(value, _LEAVES):
        return value
    if isinstance(value, dict | list | tuple | set | frozenset | collections.deque):
        items = value.keys() if isinstance(value, dict) else value
        scalars = sorted(repr(i) for i in items if isinstance(i, _LEAVES))
        return (type(value).__name__, len(value), tuple(scalars[:50]))
    if isinstance(value, random.Random):  # a generator that kept drawing draws other ids
        return ("Random", hash(value.getstate()))
    return type(value).__qualname__
