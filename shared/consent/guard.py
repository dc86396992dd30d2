"""Moved: the guard lives in `shared.privacy.guard` (restriction, erasure and objections are checked there
first). Re-exported here so older imports keep working."""

from __future__ import annotations

from shared.privacy.guard import PURPOSES, Purpose, can_process, record_analytics

__all__ = ["PURPOSES", "Purpose", "can_process", "record_analytics"]
