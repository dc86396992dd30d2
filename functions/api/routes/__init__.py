"""Every router the API serves, in one list."""

from functions.api.routes import credits, health, me, media

ROUTERS = [health.router, me.router, credits.router, media.router]
