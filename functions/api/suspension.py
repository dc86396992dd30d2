"""The suspension guard for creating routes (upload, generate, buy): 403 `account_suspended`.

A route dependency rather than part of the caller, so every other route (reading, exporting, deleting,
support) keeps working for a suspended account, as the terms promise.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from functions.api.deps import CurrentCaller, Db
from functions.api.raises import raises
from shared.trust.suspension import AccountSuspended, require_active


@raises(AccountSuspended)
def refuse_suspended(caller: CurrentCaller, db: Db) -> None:
    with db.transaction() as conn:
        require_active(conn, caller.account.id)


NOT_SUSPENDED: Any = Depends(refuse_suspended)
