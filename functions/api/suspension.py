"""The suspension guard for creating routes (upload, generate, buy): 403 `account_suspended`.

A route dependency rather than part of the caller, so every other route (reading, exporting, deleting,
support) keeps working for a suspended account, as the terms promise.
"""

from __future__ import annotations

from typing import Any

from fastapi import Depends, Request

from functions.api.deps import CurrentCaller, _db, analysed_once
from functions.api.raises import raises
from shared.trust.suspension import AccountSuspended, require_active


@raises(AccountSuspended)
def refuse_suspended(request: Request, caller: CurrentCaller) -> None:
    # The database from the request's app, not `Depends(_db)`: one node less per route (functions/api/deps.py).
    with _db(request).transaction() as conn:
        require_active(conn, caller.account.id)


analysed_once(refuse_suspended)
NOT_SUSPENDED: Any = Depends(refuse_suspended)
