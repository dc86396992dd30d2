"""The default moderation term list: an honest, simple floor, not a classifier.

Operators extend it with `ATELIER_BLOCKED_TERMS` (comma-separated); a real classifier plugs in
behind `shared.moderation.Moderator`.
"""

from __future__ import annotations

# Terms whose presence in a prompt blocks a job before any credit is reserved. Matched as whole
# words, case-insensitively. Kept short and unambiguous on purpose: false positives cost users.
BLOCKED_TERMS: tuple[str, ...] = (
    "child sexual",
    "csam",
    "underage nude",
    "minor nude",
    "loli",
    "shota",
    "bestiality",
    "non-consensual",
    "revenge porn",
)
