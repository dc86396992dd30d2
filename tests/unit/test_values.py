"""`@value` classes mean what `@dataclass(frozen=True)` classes mean: each shared method against the generated one."""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import FrozenInstanceError, dataclass, field
from typing import Any

import pytest

from config.values import value


@value
class Point:
    """Two compared fields, one left out of comparison, hash and repr."""

    x: int
    y: str = "a"
    note: list[int] = field(default_factory=list, compare=False, repr=False)


@dataclass(frozen=True)
class GeneratedPoint:
    """The same fields, with the methods the standard library generates."""

    x: int
    y: str = "a"
    note: list[int] = field(default_factory=list, compare=False, repr=False)


@value
class Hashed:
    """A field compared but not hashed, and one hashed though not compared."""

    a: int
    b: int = field(default=0, hash=False)
    c: int = field(default=0, compare=False, hash=True)


@dataclass(frozen=True)
class GeneratedHashed:
    """The same, generated."""

    a: int
    b: int = field(default=0, hash=False)
    c: int = field(default=0, compare=False, hash=True)


@value
class Box:
    """Holds anything, itself included."""

    item: Any


@value
class Empty:
    """No fields."""


@dataclass(frozen=True)
class GeneratedEmpty:
    """No fields, generated."""


@value
class Custom:  # noqa: PLW1641  (the hash is the decorator's, as the generated one would be)
    """Its own equality and repr stay; the hash follows the generated rule (replaced, since only __eq__ is its own)."""

    x: int

    def __eq__(self, other: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "custom"


def _rename(text: str) -> str:
    return text.replace("Generated", "")


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ((1, "a"), (1, "a")),
        ((1, "a"), (1, "b")),
        ((2, "b"), (1, "b")),
    ],
)
def test_equality_hash_and_repr_are_the_generated_ones(ours: tuple[int, str], theirs: tuple[int, str]) -> None:
    a, b = Point(*ours, note=[1]), Point(*theirs, note=[2])
    ga, gb = GeneratedPoint(*ours, note=[1]), GeneratedPoint(*theirs, note=[2])
    assert (a == b) is (ga == gb)
    assert (a != b) is (ga != gb)
    assert (hash(a) == hash(b)) is (hash(ga) == hash(gb))
    assert hash(a) == hash(ga)
    assert repr(a) == _rename(repr(ga)) == f"Point(x={ours[0]}, y={ours[1]!r})"
    assert str(a) == repr(a)


def test_another_class_is_never_equal_even_with_the_same_fields() -> None:
    assert Point(1) != GeneratedPoint(1)  # type: ignore[comparison-overlap]
    assert Point(1).__eq__(GeneratedPoint(1)) is NotImplemented
    assert Point(1) != (1, "a")  # type: ignore[comparison-overlap]


def test_hash_follows_the_fields_hash_and_compare_flags() -> None:
    for args in ((1, 2, 3), (1, 5, 3), (1, 2, 7)):
        assert hash(Hashed(*args)) == hash(GeneratedHashed(*args))
        assert repr(Hashed(*args)) == _rename(repr(GeneratedHashed(*args)))
    assert Hashed(1, 2, 3) == Hashed(1, 2, 9)  # c is not compared
    assert Hashed(1, 2, 3) != Hashed(1, 9, 3)  # b is


def test_a_class_without_fields() -> None:
    assert Empty() == Empty()
    assert hash(Empty()) == hash(GeneratedEmpty())
    assert repr(Empty()) == "Empty()"


def test_a_recursive_repr_shows_dots_as_the_generated_one() -> None:
    items: list[Any] = []
    box = Box(items)
    items.append(box)
    assert repr(box) == "Box(item=[...])"


def test_values_stay_frozen_and_work_with_the_dataclass_functions() -> None:
    point = Point(1, "b", note=[3])
    with pytest.raises(FrozenInstanceError):
        point.x = 2  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        del point.y
    for made in (point, GeneratedPoint(1, "b")):  # a name that is not a field, as the generated class refuses it
        with pytest.raises(FrozenInstanceError):
            made.other = 1  # type: ignore[union-attr]
    with pytest.raises(FrozenInstanceError):
        del point.note
    assert (point.x, point.y, point.note) == (1, "b", [3])  # nothing above changed it
    assert dataclasses.is_dataclass(point)
    assert dataclasses.replace(point, x=5) == Point(5, "b")
    assert dataclasses.asdict(point) == {"x": 1, "y": "b", "note": [3]}
    assert [f.name for f in dataclasses.fields(point)] == ["x", "y", "note"]
    assert copy.deepcopy(point) == point
    assert {point: 1}[Point(1, "b")] == 1


def test_a_class_keeps_its_own_methods() -> None:
    assert Custom(1) == Custom(2)
    assert repr(Custom(1)) == "custom"
    assert hash(Custom(1)) == hash((1,))
