"""Short ticket references: 8 characters a person can quote, standing for exactly the ids that begin like it."""

from __future__ import annotations

import uuid

from shared.support.reference import id_range, short_reference


def test_a_reference_is_eight_quotable_characters_and_names_its_ids_range() -> None:
    for _ in range(200):
        ticket = uuid.uuid4()
        reference = short_reference(ticket)
        assert len(reference) == 8
        assert set(reference) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        bounds = id_range(reference)
        assert bounds is not None
        assert bounds[0] <= ticket <= bounds[1]
        assert id_range(f" {reference[:4].lower()}-{reference[4:]} ") == bounds  # as a person types it


def test_anything_else_is_not_a_reference() -> None:
    for given in ("", "ABCDEFG", "ABCDEFGHI", "ABCDEFG1", "abcdefg!", "00000000-0000-0000-0000-000000000000"):
        assert id_range(given) is None
