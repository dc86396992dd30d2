"""The remote side of erasure built from settings, for the scheduled task and the under-13 refusal alike."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from config.settings import Settings
from shared.accounts.auth_admin import SupabaseAuthAdmin
from shared.kit.db import Database
from shared.media.storage import Storage
from shared.notify.outbox import site_from
from shared.notify.smtp import email_sender_for
from shared.privacy.erasure import AuthUsers, PolarCustomers, Processors


def polar_customers(settings: Settings) -> PolarCustomers | None:
    """Deletes (and anonymises) an account's Polar customer; None while billing is off."""
    if not settings.polar_access_token:
        return None

    def delete_polar_customer(user_id: UUID) -> bool:
        from shared.billing.polar_api import delete_customer, polar_client  # noqa: PLC0415 - polar loads slowly

        with polar_client(settings) as client:
            return delete_customer(client, user_id=user_id)

    return delete_polar_customer


def processors_for(
    settings: Settings, *, storage: Storage, auth: AuthUsers | None = None, farewell_mail: bool = False
) -> Processors:
    """`farewell_mail`: the scheduled erasure mails "your account is deleted" before the address goes; the
    under-13 refusal does not write to a child's address."""
    email = email_sender_for(settings) if farewell_mail else None

    def purge_dataset(db: Database, user_id: UUID, now: datetime) -> int:
        from shared.dataset.runs import purge_account  # noqa: PLC0415 - c2pa loads only where erasure runs

        return purge_account(db, storage, settings, user_id, now=now)

    return Processors(
        storage=storage,
        auth=auth or SupabaseAuthAdmin(settings),
        polar=polar_customers(settings),
        email=email,
        site=site_from(settings) if email is not None else None,
        dataset=purge_dataset,
    )
