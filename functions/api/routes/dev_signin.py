"""Local sign-in for the studio web app: an email in, a development token out.

Included only when ATELIER_ENV=local (see functions/api/app.py), and even then it answers only a client on
this machine (the socket's peer address, never a forwarded header), so a stack bound to another address
does not hand out tokens to the network, and only a request addressed to a loopback name or address, so a
page on another host name that resolves to 127.0.0.1 (DNS rebinding) gets no token either.
The tokens are the ones `python deploy.py token EMAIL` prints.
"""

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from pydantic import Field

from functions.api.deps import AppSettings, Db
from functions.api.fields import storable
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
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


class SignInIn(RequestModel):
    email: Annotated[
        str, Field(max_length=320, json_schema_extra={"format": "email"}), storable(code=InvalidEmail.code)
    ]


class SignInOut(ResponseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    expires_at: datetime


def _is_loopback_address(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).is_loopback
    except ValueError:
        return False


def is_loopback_host(host: str | None) -> bool:
    """The `Host` the page was loaded from names this machine: `localhost` (or a name under it, RFC 6761) or a
    loopback address. A page on another name that resolves to 127.0.0.1 (DNS rebinding) sends its own name."""
    if not host:
        return False
    name = host.strip().lower()
    if name.startswith("["):  # [::1]:8000
        name = name[1 : name.find("]")] if "]" in name else ""
    elif name.count(":") == 1:  # 127.0.0.1:8000, localhost:8000
        name = name.split(":", 1)[0]
    name = name.rstrip(".")
    return name == "localhost" or name.endswith(".localhost") or _is_loopback_address(name)


def is_loopback_client(request: Request) -> bool:
    """The TCP peer is this machine, no proxy says it forwards someone else, and the request is addressed to a
    loopback name (not a rebound one)."""
    if request.headers.get("x-forwarded-for") or request.headers.get("forwarded"):
        return False
    if not is_loopback_host(request.headers.get("host")):
        return False
    return _is_loopback_address(request.client.host if request.client else "")


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
