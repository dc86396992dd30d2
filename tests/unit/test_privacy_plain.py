"""The privacy center's plain words cover the whole data map, once each, and say what erasure keeps."""

from __future__ import annotations

import re

from shared.privacy.datamap import STORAGE, TABLES, Erasure
from shared.privacy.plain import GROUPS, group_of_prefix, group_of_table


def test_every_table_and_prefix_of_the_data_map_is_in_exactly_one_group() -> None:
    tables = [t for g in GROUPS for t in g.tables]
    prefixes = [p for g in GROUPS for p in g.prefixes]
    assert sorted(tables) == sorted(e.table for e in TABLES)
    assert sorted(prefixes) == sorted(e.prefix for e in STORAGE)
    assert len({g.id for g in GROUPS}) == len(GROUPS)


def test_a_group_says_what_it_keeps_exactly_when_erasure_keeps_something() -> None:
    for group in GROUPS:
        kept = [group_of_table(e.table) for e in TABLES if e.erasure != Erasure.DELETE]
        kept += [group_of_prefix(e.prefix) for e in STORAGE if e.erasure != Erasure.DELETE]
        assert (group.kept_after_deletion is not None) == (group in kept), group.id


def test_the_words_are_a_persons_not_the_schemas() -> None:
    # Table names with an underscore (credit_ledger), placeholders and paths; "exports" or "media" are words too.
    schema = ["pseudonymised", r"\{", "_", "/"]
    for group in GROUPS:
        for text in (group.label, group.what, group.why, group.kept_for, group.kept_after_deletion or ""):
            assert not any(re.search(word, text) for word in schema), (group.id, text)
            assert not re.search(r"\b(\w+) \1\b", text), text  # no "pseudonymised pseudonymised"
    purchases = next(g for g in GROUPS if g.id == "purchases")
    assert purchases.kept_after_deletion is not None
    assert "10 years, because accounting law requires it" in purchases.kept_after_deletion
