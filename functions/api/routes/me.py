from datetime import datetime
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

from functions.api.deps import CurrentCaller
from functions.api.ratelimits import rate_limited

router = APIRouter(prefix="/v1", tags=["account"])


class AccountOut(BaseModel):
    id: UUID
    email: str | None
    display_name: str | None
    full_name: str | None
    avatar_url: str | None
    created_at: datetime


@router.get("/me", summary="The caller's account", dependencies=[rate_limited("account")])
def get_me(caller: CurrentCaller) -> AccountOut:
    a = caller.account
    return AccountOut(
        id=a.id,
        email=a.email,
        display_name=a.display_name,
        full_name=a.full_name,
        avatar_url=a.avatar_url,
        created_at=a.created_at,
    )
