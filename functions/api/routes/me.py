from datetime import datetime
from uuid import UUID

from fastapi import APIRouter

from functions.api.deps import CurrentCaller, Db
from functions.api.ratelimits import rate_limited
from functions.api.schemas import ResponseModel
from shared.access.onboarding import onboarded_at
from shared.accounts import repo as accounts
from shared.kit.db.database import Connection
from shared.kit.errors import NotFound
from shared.policies import service as policies
from shared.privacy import erasure, rights

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
    a = accounts.get(conn, account_id)
    if a is None:
        raise NotFound("No such account.")
    pending = erasure.pending(conn, account_id)
    completed_at = onboarded_at(conn, account_id)
    to_accept = policies.to_accept(conn, account_id, onboarded=completed_at is not None)
    return AccountOut(
        id=a.id,
        email=a.email,
        display_name=a.display_name,
        full_name=a.full_name,
        avatar_url=a.avatar_url,
        created_at=a.created_at,
        restricted=rights.restriction(conn, account_id).restricted,
        deletion_scheduled_for=pending.scheduled_for if pending else None,
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


@router.get("/me", summary="The caller's account", dependencies=[rate_limited("account")])
def get_me(caller: CurrentCaller, db: Db) -> AccountOut:
    with db.transaction() as conn:
        return account_out(conn, caller.account.id)
