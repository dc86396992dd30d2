"""Local sign-in for the studio web app: an email in, a development token out.

Included only when ATELIER_ENV=local (see functions/api/app.py), and even then it answers only a client on
this machine (the socket's peer address, never a forwarded header), so a stack bound to another address
does not hand out tokens to the network. The tokens are the ones `python deploy.py token EMAIL` prints.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from functions.api.deps import AppSettings, Db
from functions.api.fields import storable
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from shared.access.locks import is_erased
from shared.auth import dev_user_id, issue_dev_token
from shared.kit.errors import Forbidden, Unprocessable

router = APIRouter(prefix="/v1/dev", tags=["local development"])

TOKEN_HOURS = 12
MAX_GENERATIONS = 1000  # erasures of one address a local stack will step past
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{2,63}$")


class LocalOnly(Forbidden):
    """Development sign-in answers only clients on this machine."""

    code = "local_only"


class InvalidEmail(Unprocessable):
    """Give an email address like ada@example.com."""

    code = "invalid_email"


class SignInIn(BaseModel):
    email: Annotated[
        str, Field(max_length=320, json_schema_extra={"format": "email"}), storable(code=InvalidEmail.code)
    ]


class SignInOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


def is_loopback_client(request: Request) -> bool:
    """The TCP peer is this machine and no proxy says it forwards someone else."""
    if request.headers.get("x-forwarded-for") or request.headers.get("forwarded"):
        return False
    peer = request.client.host if request.client else ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


@router.post(
    "/sign-in",
    summary="Local stack only: a development token for an email (loopback clients)",
    dependencies=[rate_limited("public")],
    responses=errors(LocalOnly, InvalidEmail),
)
def dev_sign_in(body: SignInIn, request: Request, settings: AppSettings, db: Db) -> SignInOut:
    if settings.is_production or not is_loopback_client(request):
        raise LocalOnly()
    email = body.email.strip()
    if not _EMAIL.match(email):
        raise InvalidEmail()
    # After an erasure the address signs up afresh, as with Supabase Auth: a new, empty account.
    with db.transaction() as conn:
        generation = 0
        while generation < MAX_GENERATIONS and is_erased(conn, dev_user_id(email, generation)):
            generation += 1
    expires_at = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=TOKEN_HOURS)
    token = issue_dev_token(settings, email, hours=TOKEN_HOURS, generation=generation)
    return SignInOut(access_token=token, expires_at=expires_at)
