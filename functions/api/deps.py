"""Small dependency aliases every router uses: the database and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from config.settings import Settings
from shared.accounts.models import Account
from shared.accounts.service import ensure_account
from shared.auth import Principal, TokenVerifier
from shared.db import Database
from shared.pagination import DEFAULT_LIMIT, MAX_LIMIT


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Caller:
    """The verified principal and their account row."""

    principal: Principal
    account: Account


# Declares the bearer scheme in the OpenAPI description; the token itself is read and verified below.
_bearer_scheme = HTTPBearer(auto_error=False, description="A Supabase access token (JWT).")


def _caller(
    request: Request,
    db: Annotated[Database, Depends(_db)],
    _scheme: Annotated[HTTPAuthorizationCredentials | None, Security(_bearer_scheme)],
) -> Caller:
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(bearer_token(request))
    with db.transaction() as conn:
        account, _created = ensure_account(conn, principal)
    request.state.account_id = account.id  # for the denial monitor (counted per account, hashed)
    return Caller(principal, account)


Db = Annotated[Database, Depends(_db)]
AppSettings = Annotated[Settings, Depends(_settings)]
CurrentCaller = Annotated[Caller, Depends(_caller)]

# Pagination query parameters every list route uses: `limit: Limit = DEFAULT_LIMIT, cursor: PageCursor = None`.
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Items per page, 1..{MAX_LIMIT}.")]
PageCursor = Annotated[str | None, Query(max_length=512, description="`next_cursor` of the previous page.")]
__all__ = ["DEFAULT_LIMIT", "AppSettings", "Caller", "CurrentCaller", "Db", "Limit", "PageCursor", "bearer_token"]
