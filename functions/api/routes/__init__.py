"""Every router the API serves, in one list."""

from functions.api.routes import health, me, models

ROUTERS = [health.router, me.router, models.router]
