from datetime import datetime

from fastapi import APIRouter
from pydantic import ConfigDict, Field, StrictBool, model_validator

from functions.api.deps import AppSettings, AuthAdmin, CurrentCaller, Db, Storage
from functions.api.fields import IsoDate
from functions.api.raises import errors
from functions.api.ratelimits import rate_limited
from functions.api.schemas import RequestModel, ResponseModel
from shared.access.locks import AccountErased, AccountLocked
from shared.kit.errors import (
    AlreadyOnboarded,
    InvalidBirthDate,
    OnboardingRequired,
    PolicyVersionNotCurrent,
    Underage,
    UnknownPolicyVersion,
)

router = APIRouter(prefix="/v1", tags=["account"], dependencies=[rate_limited("account")])


class OnboardingIn(RequestModel):
    # "exactly one age signal" described in the OpenAPI too, so clients (and the fuzzer) know the rule
    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["birth_date"], "properties": {"birth_date": {"type": "string"}}},
                {"required": ["age_confirmed"], "properties": {"age_confirmed": {"type": "boolean"}}},
            ]
        }
    )

    birth_date: IsoDate | None = None
    age_confirmed: StrictBool | None = None  # `0`, `"0"`, `"false"` are refused, never read as "under 13"
    accepted_policy_version: int = Field(ge=1)

    @model_validator(mode="after")
    def _one_age_signal(self) -> "OnboardingIn":
        if (self.birth_date is None) == (self.age_confirmed is None):
            raise ValueError("send exactly one of birth_date or age_confirmed")
        return self


class OnboardingOut(ResponseModel):
    onboarded_at: datetime
    policy_version: int
    terms_version: int


@router.post(
    "/me/onboarding",
    summary="Age check and policy acceptance; under 13 the account is deleted",
    responses=errors(
        InvalidBirthDate,
        UnknownPolicyVersion,
        PolicyVersionNotCurrent,
        Underage,
        OnboardingRequired,
        AlreadyOnboarded,
        AccountLocked,
        AccountErased,
    ),
)
def post_onboarding(
    *, body: OnboardingIn, caller: CurrentCaller, db: Db, settings: AppSettings, auth_admin: AuthAdmin, storage: Storage
) -> OnboardingOut:
    # Lazy: the processors' clients (the SMTP sender among them) and the onboarding service are needed once per
    # account, not to start the API (LOADED_BY_THEIR_CALLS).
    from shared.lifecycle import onboarding
    from shared.privacy.processors import processors_for

    done = onboarding.onboard(
        db,
        settings,
        processors_for(settings, storage=storage, auth=auth_admin),
        caller.account.id,
        birth_date=body.birth_date,
        age_confirmed=body.age_confirmed,
        accepted_policy_version=body.accepted_policy_version,
    )
    return OnboardingOut(
        onboarded_at=done.onboarded_at, policy_version=done.policy_version, terms_version=done.terms_version
    )
