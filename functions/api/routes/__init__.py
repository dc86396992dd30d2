"""Every router the API serves, in one list."""

from functions.api.routes import credits, health, me, media, models

ROUTERS = [health.router, me.router, credits.router, media.router, models.router]
