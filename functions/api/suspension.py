"""The suspension guard for creating routes (upload, generate, buy): 403 `account_suspended`.

A route dependency rather than part of the caller, so every other route (reading, exporting, deleting,
support) keeps working for a suspended account, as the terms promise.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from functions.api.deps import CurrentCaller, analysed_once
from functions.api.raises import raises
from shared.trust.suspension import AccountSuspended


@raises(AccountSuspended)
async def refuse_suspended(caller: CurrentCaller) -> None:
    """403 `account_suspended`, read with the account in the caller's statement (`suspended_at is not null`, the
    column `require_active` reads): no round trip of its own."""
    if caller.standing.suspended:
        raise AccountSuspended()


analysed_once(refuse_suspended)
NOT_SUSPENDED: Any = Depends(refuse_suspended)
