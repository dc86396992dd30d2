"""Scheduled tasks: each is a thin call into `shared/`, run by Modal Cron in production and by the
local scheduler (`functions/local.py`) on this machine; `python deploy.py task NAME` runs one now."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import modal

from config.settings import Settings, get_settings
from functions.modal_app import SECRETS, api_image, app
from shared.db import Database

log = logging.getLogger("atelier.tasks")

# Look back further than the schedule, so a failed or late run is covered by the next one.
SYNC_BILLING_LOOKBACK = timedelta(days=3)


def run_sync_billing(
    db: Database, settings: Settings | None = None, *, lookback: timedelta = SYNC_BILLING_LOOKBACK
) -> int:
    """Repair lost `order.paid` webhooks; a no-op (0) when billing is not configured."""
    from shared.billing.catalogue import load_catalogue
    from shared.billing.polar_api import polar_client
    from shared.billing.reconcile import sync_billing

    settings = settings or get_settings()
    if not settings.polar_access_token:
        log.info("sync-billing skipped: POLAR_ACCESS_TOKEN is not set")
        return 0
    with polar_client(settings) as client:
        return sync_billing(
            db, client, since=datetime.now(UTC) - lookback, catalogue=load_catalogue(settings.products_file)
        )


@app.function(image=api_image, secrets=SECRETS, schedule=modal.Cron("17 4 * * *"), timeout=900)
def sync_billing() -> int:
    """Daily: apply paid Polar orders that no webhook applied."""
    from shared.db import open_database

    db = open_database(get_settings())
    try:
        return run_sync_billing(db)
    finally:
        db.close()
