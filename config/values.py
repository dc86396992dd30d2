"""`@value`: a frozen dataclass whose equality, hash and repr are shared functions, not code generated per class.

`@dataclass(frozen=True)` on Python 3.11 writes the source of six methods for each class (`__init__`, `__repr__`,
`__eq__`, `__hash__`, `__setattr__`, `__delattr__`) and compiles each one when the class is made: ~2.3 M instructions
a class plus ~0.3 M a field. For the ~55 records and table rows the API makes when it starts, that was about a tenth of
what its start costs beyond the libraries it needs (issue 34: cold start). `@value` makes the same class with
`@dataclass(frozen=True, eq=False, repr=False)` (the constructor and the immutability are still generated) and gives
it `__eq__`, `__hash__` and `__repr__` that read the class's fields when called, with the meaning the generated ones
have:

- equal when the other object is of exactly the same class and the fields that take part in comparison are equal
  (`NotImplemented` otherwise);
- hashed on the fields that take part in hashing (`field(hash=...)`, else `compare`);
- shown as `Name(field=repr, ...)` over the fields with `repr=True` (`...` for a recursive reference).

Immutability, `dataclasses.replace`, `fields`, `asdict` and type checking (mypy reads `dataclass_transform`) are
those of any frozen dataclass. It lives in config/, the lowest floor, so config's tables and shared/'s records both
use it. tests/unit/test_values.py compares each method with the generated one; tests/unit/test_architecture.py checks
that every frozen dataclass the API makes at start is a `@value`.
"""

from __future__ import annotations

import reprlib
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

# Per class, the names its shared methods read (fields() filters out class variables and init-only pseudo-fields).
_COMPARED: dict[type, tuple[str, ...]] = {}
_HASHED: dict[type, tuple[str, ...]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}


def _names(cache: dict[type, tuple[str, ...]], cls: type, keep: Any) -> tuple[str, ...]:
    names = cache.get(cls)
    if names is None:
        names = cache[cls] = tuple(f.name for f in fields(cls) if keep(f))
    return names


def _compared(f: Field[Any]) -> bool:
    return f.compare


def _hashed(f: Field[Any]) -> bool:
    return f.compare if f.hash is None else bool(f.hash)


def _shown(f: Field[Any]) -> bool:
    return f.repr


def _eq(self: object, other: object) -> bool:
    if other.__class__ is not self.__class__:
        return NotImplemented  # type: ignore[no-any-return]  # as object.__eq__: the other side is asked
    names = _names(_COMPARED, self.__class__, _compared)
    return tuple(getattr(self, n) for n in names) == tuple(getattr(other, n) for n in names)


def _hash(self: object) -> int:
    return hash(tuple(getattr(self, n) for n in _names(_HASHED, self.__class__, _hashed)))


@reprlib.recursive_repr()
def _repr(self: object) -> str:
    shown = ", ".join(f"{n}={getattr(self, n)!r}" for n in _names(_SHOWN, self.__class__, _shown))
    return f"{self.__class__.__qualname__}({shown})"


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value(cls: type[T]) -> type[T]:
    """`@dataclass(frozen=True)`, with equality, hash and repr shared rather than generated (see the module)."""
    own = cls.__dict__
    # As the generated ones: a class's own __eq__ or __repr__ stays, and so does its own __hash__ (Python sets
    # __hash__ to None in a class that defines __eq__ alone: that one is replaced, as dataclass replaces it).
    own_hash = own.get("__hash__") is not None or ("__hash__" in own and "__eq__" not in own)
    made = dataclass(frozen=True, eq=False, repr=False)(cls)
    if "__eq__" not in own:
        made.__eq__ = _eq  # type: ignore[method-assign]
    if not own_hash:
        made.__hash__ = _hash  # type: ignore[method-assign]
    if "__repr__" not in own:
        made.__repr__ = _repr  # type: ignore[method-assign]
    return made
