"""Every router the API serves, in one list."""

from functions import webhooks
from functions.api.routes import (
    billing,
    consent,
    contact,
    credits,
    dev_signin,
    docs,
    exports,
    health,
    jobs,
    me,
    media,
    models,
    onboarding,
    policies,
    privacy_center,
    reports,
    rights,
    studio,
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
    jobs.router,
    models.router,
    studio.router,
    policies.router,
    consent.router,
    onboarding.router,
    support.router,
    contact.router,
    exports.router,
    rights.router,
    privacy_center.router,
    reports.router,
]

# Served only by a local stack (ATELIER_ENV=local): never part of a production app.
LOCAL_ROUTERS = [dev_signin.router]
