"""Every router the API serves, in one list."""

from functions import webhooks
from functions.api.routes import billing, credits, health, me

ROUTERS = [health.router, me.router, credits.router, billing.router, webhooks.router]
