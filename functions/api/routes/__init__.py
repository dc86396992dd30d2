"""Every router the API serves, in one list."""

from functions.api.routes import docs, health, me

ROUTERS = [health.router, me.router, docs.router]
