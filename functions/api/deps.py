"""Small dependency aliases every router uses: the database and the authenticated caller."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from config.settings import Settings
from shared.accounts.models import Account
from shared.accounts.service import ensure_account
from shared.auth import Principal, TokenVerifier
from shared.db import Database
from shared.media.storage import Storage as ObjectStorage


def _db(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _storage(request: Request) -> ObjectStorage:
    storage: ObjectStorage = request.app.state.storage
    return storage


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


@dataclass(frozen=True)
class Caller:
    """The verified principal and their account row."""

    principal: Principal
    account: Account


def _caller(request: Request, db: Annotated[Database, Depends(_db)]) -> Caller:
    verifier: TokenVerifier = request.app.state.verifier
    principal = verifier.verify(bearer_token(request))
    with db.transaction() as conn:
        account, _created = ensure_account(conn, principal, settings=request.app.state.settings)
    return Caller(principal, account)


Db = Annotated[Database, Depends(_db)]
AppSettings = Annotated[Settings, Depends(_settings)]
CurrentCaller = Annotated[Caller, Depends(_caller)]
Storage = Annotated[ObjectStorage, Depends(_storage)]
