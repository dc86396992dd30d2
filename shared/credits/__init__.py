"""Credits: an append-only ledger of grants and holds; the database refuses an overdraft."""

from shared.credits.models import Balance, Grant, GrantKind, Hold, LedgerEntry
from shared.kit.errors import HoldAlreadyResolved, InsufficientCredits

__all__ = ["Balance", "Grant", "GrantKind", "Hold", "HoldAlreadyResolved", "InsufficientCredits", "LedgerEntry"]
