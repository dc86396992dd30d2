"""Every router the API serves, in one list."""

from functions.api.routes import credits, health, me

ROUTERS = [health.router, me.router, credits.router]
