"""Every router the API serves, in one list."""

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
    webhooks,
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

# Served only outside production (ATELIER_ENV=local): never part of a production app.
LOCAL_ROUTERS = [dev_signin.router, docs.local_router]

# Imported by the calls that need them, not when the API starts (issue 34: cold start): the export builder (its ZIP
# archive), the data map (read by erasure's steps, which a task runs), the holdings the privacy center and the
# preferences read, the processors' clients onboarding names (the SMTP sender among them), the mail machinery
# (outbox, templates, statements of reasons) that only rare calls reach: an erasure asked for or cancelled, a contact
# form, a flagged image, an operator's suspension; the services of support tickets and of the contact form (their
# routes declare the forms' rules from shared/support/rules.py); the signup a caller's first request reaches (and the
# billing repository it reads), and the services of the privacy rights, erasure, privacy requests and notices; the
# SMTP settings' parser and the processors' table, which the settings read only when those variables are set; the
# product catalogue (the products list, a checkout, a Polar delivery); the moderation decisions' records (an image
# judged at upload or publication, an operator's suspension); onboarding's service (once per account).
# tests/unit/test_architecture.py keeps them out of the API's start; the Modal entry imports them before its memory
# snapshot (functions/api_service.py), so a restored container does not pay for them either.
LOADED_BY_THEIR_CALLS = (
    "shared.privacy.exports",
    "shared.privacy.holdings",
    "shared.privacy.processors",
    "shared.notify.outbox",
    "shared.notify.farewell",
    "shared.trust.notices",
    "shared.privacy.datamap",
    "shared.dataset.holdings",
    "shared.support.service",
    "shared.support.contact",
    "shared.support.reference",
    "shared.lifecycle.signup",
    "shared.privacy.erasure",
    "shared.privacy.rights",
    "shared.privacy.requests",
    "shared.notify.notifications",
    "config.email",
    "config.processors",
    "shared.billing.catalogue",
    "shared.trust.decisions",
    "shared.lifecycle.onboarding",
)
