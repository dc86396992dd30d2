"""Every router the API serves, in one list."""

from functions.api.routes import consent, health, me, media, onboarding, policies, support

ROUTERS = [health.router, me.router, media.router, policies.router, consent.router, onboarding.router, support.router]
