"""`@value`: an immutable dataclass whose methods, but for its constructor, are shared functions, not code generated
per class.

`@dataclass(frozen=True)` on Python 3.11 writes the source of six methods for each class (`__init__`, `__repr__`,
`__eq__`, `__hash__`, `__setattr__`, `__delattr__`) and compiles each one when the class is made: ~2.3 M instructions
a class plus ~0.3 M a field. For the ~55 records and table rows the API makes when it starts, that was about a seventh
of what its start costs beyond the libraries it needs (issue 34: cold start). `@value` makes the class with
`@dataclass(eq=False, repr=False)`, so only the constructor is generated, and gives it shared methods with the meaning
the generated ones have:

- equal when the other object is of exactly the same class and the fields that take part in comparison are equal
  (`NotImplemented` otherwise);
- hashed on the fields that take part in hashing (`field(hash=...)`, else `compare`);
- shown as `Name(field=repr, ...)` over the fields with `repr=True` (`...` for a recursive reference);
- immutable: a field is set once, by the constructor; assigning to a field already set, to a name that is not a
  field, or deleting any attribute raises `FrozenInstanceError`, as a frozen dataclass does. (The one difference is
  how the constructor stores a field: through that shared `__setattr__`, ~0.15 µs a field, where the generated
  frozen constructor calls `object.__setattr__` directly.)

`dataclasses.replace`, `fields`, `asdict`, copying and type checking (mypy reads `dataclass_transform`: an assignment
is a type error, as for a frozen dataclass) are those of any dataclass. It lives in config/, the lowest floor, so
config's tables and shared/'s records both use it. tests/unit/test_values.py compares each method with the generated
one; tests/unit/test_architecture.py checks that every frozen dataclass of ours is a `@value`.
"""

from __future__ import annotations

import reprlib
from dataclasses import Field, FrozenInstanceError, dataclass, field, fields
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

# Per class, the names its shared methods read (fields() filters out class variables and init-only pseudo-fields).
_COMPARED: dict[type, tuple[str, ...]] = {}
_HASHED: dict[type, tuple[str, ...]] = {}
_SHOWN: dict[type, tuple[str, ...]] = {}
_FIELDS: dict[type, tuple[str, ...]] = {}


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


def _any(f: Field[Any]) -> bool:
    return True


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


def _set_once(self: object, name: str, given: object) -> None:
    if name in self.__dict__ or name not in _names(_FIELDS, self.__class__, _any):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")
    object.__setattr__(self, name, given)


def _no_delete(self: object, name: str) -> None:
    raise FrozenInstanceError(f"cannot delete field {name!r}")


@dataclass_transform(frozen_default=True, field_specifiers=(field,))
def value(cls: type[T]) -> type[T]:
    """`@dataclass(frozen=True)`, with every method but the constructor shared rather than generated (see the
    module)."""
    own = cls.__dict__
    # As the generated ones: a class's own __eq__ or __repr__ stays, and so does its own __hash__ (Python sets
    # __hash__ to None in a class that defines __eq__ alone: that one is replaced, as dataclass replaces it).
    own_hash = own.get("__hash__") is not None or ("__hash__" in own and "__eq__" not in own)
    made = dataclass(eq=False, repr=False)(cls)
    made.__setattr__ = _set_once  # type: ignore[method-assign]
    made.__delattr__ = _no_delete  # type: ignore[method-assign]
    if "__eq__" not in own:
        made.__eq__ = _eq  # type: ignore[method-assign]
    if not own_hash:
        made.__hash__ = _hash  # type: ignore[method-assign]
    if "__repr__" not in own:
        made.__repr__ = _repr  # type: ignore[method-assign]
    return made
