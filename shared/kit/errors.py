"""Domain errors. Each carries a stable machine-readable code and the HTTP status the edge answers with."""

from __future__ import annotations

from typing import Any, ClassVar


class AtelierError(Exception):
    """Base of every error a client may see; `code` is a contract, `message` is for humans.

    `details` (optional, JSON-serialisable) tells a client its next step in machine-readable form,
    e.g. which endpoint to call and with which policy version."""

    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"

    def __init__(
        self, message: str | None = None, *, code: str | None = None, details: dict[str, Any] | None = None
    ) -> None:
        self.message = message or self.__class__.__doc__ or self.code
        if code is not None:
            self.code = code  # type: ignore[misc]  # an instance may narrow the class code
        self.details = details
        super().__init__(self.message)


class BadRequest(AtelierError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class InvalidCursor(BadRequest):
    """The pagination cursor is not one this API issued."""

    code = "invalid_cursor"


class Unauthorized(AtelierError):
    """A valid access token is required."""

    status = 401
    code = "invalid_token"


class Forbidden(AtelierError):
    """The caller may not do this."""

    status = 403
    code = "forbidden"


class NotFound(AtelierError):
    """No such resource (or it belongs to someone else)."""

    status = 404
    code = "not_found"


class Conflict(AtelierError):
    """The resource is in a state that does not allow this."""

    status = 409
    code = "conflict"


class PayloadTooLarge(AtelierError):
    """The request body is larger than this route accepts."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(AtelierError):
    """This content type is not accepted here."""

    status = 415
    code = "unsupported_media_type"


class Unprocessable(AtelierError):
    """The request is well-formed but its content cannot be used."""

    status = 422
    code = "invalid_request"


class RateLimited(AtelierError):
    """Too many requests; retry later."""

    status = 429
    code = "rate_limited"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceUnavailable(AtelierError):
    """A dependency is unavailable; retry later."""

    status = 503
    code = "unavailable"


class Busy(ServiceUnavailable):
    """Every database connection of this server is in use; retry in a moment."""

    code = "busy"

    def __init__(self, message: str | None = None, *, retry_after: int = 1) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InsufficientCredits(AtelierError):
    """Not enough credits are available for this."""

    status = 402
    code = "insufficient_credits"


class HoldAlreadyResolved(Conflict):
    """This credit hold was already posted or voided; nothing was changed."""

    code = "hold_already_resolved"


class PolicyAcceptanceRequired(AtelierError):
    """A new version of the privacy policy or terms must be accepted before continuing."""

    status = 428
    code = "policy_acceptance_required"


class UnknownPolicyVersion(Unprocessable):
    """No such policy version."""

    code = "unknown_policy_version"


class PolicyVersionNotFound(NotFound):
    """No such policy version (asked for by URL: a missing resource, so 404 with the same code)."""

    code = "unknown_policy_version"


class PolicyVersionNotCurrent(Conflict):
    """Only the current version of a policy can be accepted."""

    code = "policy_version_not_current"


class OnboardingRequired(Forbidden):
    """Finish onboarding (age check and policy acceptance) first."""

    code = "onboarding_required"


class Underage(Forbidden):
    """Atelier is not available to anyone under 13."""

    code = "underage"


# Onboarding's own refusals (shared/lifecycle/onboarding.py), here so its route declares them without importing the
# service, which its calls import (issue 34: cold start).
class InvalidBirthDate(Unprocessable):
    """The birth date is in the future or implausibly far in the past."""

    code = "invalid_birth_date"


class AlreadyOnboarded(Conflict):
    """Onboarding is done for this account; it happens once."""

    code = "already_onboarded"


class UnknownProduct(NotFound):
    """No product with this id is on sale here."""

    code = "unknown_product"


class BillingDisabled(ServiceUnavailable):
    """Billing is not configured on this deployment."""

    code = "billing_disabled"


class PaymentProviderError(AtelierError):
    """The payment provider did not answer as expected; retry later."""

    status = 502
    code = "payment_provider_error"


class InvalidSignature(Forbidden):
    """The webhook signature, its headers or its timestamp could not be verified."""

    code = "invalid_signature"


class WebhooksDisabled(ServiceUnavailable):
    """No webhook secret is configured, so webhooks are refused rather than accepted unverified."""

    code = "webhooks_disabled"
