"""Every router the API serves, in one list."""

from functions.api.routes import health, me, media

ROUTERS = [health.router, me.router, media.router]
