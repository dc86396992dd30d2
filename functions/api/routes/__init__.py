"""Every router the API serves, in one list."""

from functions import webhooks
from functions.api.routes import (
    billing,
    consent,
    credits,
    docs,
    health,
    me,
    media,
    models,
    onboarding,
    policies,
    rights,
    support,
)

ROUTERS = [
    health.router,
    docs.router,
    me.router,
    credits.router,
    billing.router,
    webhooks.router,
    media.router,
    models.router,
    policies.router,
    consent.router,
    onboarding.router,
    support.router,
    rights.router,
]
