"""The patterns the OpenAPI description states for stored text say what the validators enforce: a client (or the
fuzzer) that follows the description is never refused by the rule behind it (shared/kit/text.py)."""

from __future__ import annotations

import re

import pytest

from functions.api.routes.support import MESSAGE_SCHEMA, SUBJECT_SCHEMA
from shared.kit.text import unstorable

SAMPLES = ["a subject", "ñ®©", "line\r", "two\nlines", "a\ttab", "  ", "x\x85", "nul\x00", "ok\r\nok"]


@pytest.mark.parametrize(("schema", "multiline"), [(SUBJECT_SCHEMA, False), (MESSAGE_SCHEMA, True)])
def test_what_the_pattern_admits_the_stored_text_rule_accepts(schema: dict[str, str], multiline: bool) -> None:
    for sample in SAMPLES:
        if re.match(schema["pattern"], sample):
            assert unstorable(sample, multiline=multiline) is None, repr(sample)
    assert (re.match(schema["pattern"], "two\nlines") is not None) is multiline  # a subject is one line
