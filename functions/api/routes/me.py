from datetime import datetime
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool

from functions.api.deps import CurrentCaller, app_db
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from shared.access.onboarding import onboarded_at
from shared.accounts import repo as accounts
from shared.accounts.models import Account
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound
from shared.policies import service as policies
from shared.policies.models import PolicyVersion

router = APIRouter(prefix="/v1", tags=["account"])


class OnboardingState(ResponseModel):
    done: bool
    completed_at: datetime | None


class PolicyToAccept(ResponseModel):
    kind: str
    version: int
    material: bool
    effective_at: datetime
    url: str
    summary: str | None = None  # what changed since the previous version


class AccountOut(ResponseModel):
    id: UUID
    email: str | None
    display_name: str | None
    full_name: str | None
    avatar_url: str | None
    created_at: datetime
    restricted: bool = False
    deletion_scheduled_for: datetime | None = None  # set while the account is locked awaiting erasure
    onboarding: OnboardingState
    # Before onboarding: the versions in force; afterwards: material changes not yet accepted (the 428 gate's).
    policies_to_accept: list[PolicyToAccept]


def account_out(conn: Connection, account_id: UUID) -> AccountOut:
    # Imported by the first call (cold start: routes/__init__.py); the Modal entry loads them before its snapshot.
    from shared.privacy import erasure, rights

    a = accounts.get(conn, account_id)
    if a is None:
        raise NotFound("No such account.")
    pending = erasure.pending(conn, account_id)
    completed_at = onboarded_at(conn, account_id)
    to_accept = policies.to_accept(conn, account_id, onboarded=completed_at is not None)
    restricted = rights.restriction(conn, account_id).restricted
    return _account_out(a, restricted, pending.scheduled_for if pending else None, completed_at, to_accept)


def _account_out(
    a: Account,
    restricted: bool,
    deletion_scheduled_for: datetime | None,
    completed_at: datetime | None,
    to_accept: list[PolicyVersion],
) -> AccountOut:
    return AccountOut(
        id=a.id,
        email=a.email,
        display_name=a.display_name,
        full_name=a.full_name,
        avatar_url=a.avatar_url,
        created_at=a.created_at,
        restricted=restricted,
        deletion_scheduled_for=deletion_scheduled_for,
        onboarding=OnboardingState(done=completed_at is not None, completed_at=completed_at),
        policies_to_accept=[
            PolicyToAccept(
                kind=p.kind,
                version=p.version,
                material=p.material,
                effective_at=p.effective_at,
                url=p.url,
                summary=p.summary,
            )
            for p in to_accept
        ],
    )


def _read_me(db: Database, account_id: UUID) -> AccountOut:
    with db.transaction() as conn:
        return account_out(conn, account_id)


# `async` (issue 34): the common answer waits on nothing, and a plain `def` route costs two hand-offs to the thread
# pool (the handler, then its answer's validation); the rare re-read goes to the thread pool itself, with the app's
# database read from the request (a `Db` dependency was one more node FastAPI resolved on every request).
@router.get("/me", summary="The caller's account", dependencies=[rate_limited("account")])
async def get_me(request: Request, caller: CurrentCaller) -> AccountOut:
    """Built from the caller's standing (the account and its flags, read in the caller's statement). Only an
    account awaiting erasure (its date), one not onboarded (the versions in force) or one the policy gate waits
    for (which versions) is read again."""
    s = caller.standing
    if s.onboarded_at is not None and not s.erasure_pending and not s.policy_pending:
        return _account_out(s.account, s.restricted, None, s.onboarded_at, [])
    return await run_in_threadpool(_read_me, app_db(request), caller.account.id)
