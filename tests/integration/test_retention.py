"""Time-travel tests for every retention sweep, the storage-first deletion, and concurrent runs.

Each sweep in shared/retention/sweeps.py must have a row builder here (a test checks it), so a new
table joins retention only with a test of its limit: one day before, untouched; one day after, gone
or anonymised.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.types.json import Jsonb

from config.retention import RULES
from config.settings import Settings
from functions.tasks import run_enforce_retention, run_purge_media
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.media import service as media
from shared.media.storage import LocalStorage, build_storage
from shared.retention.service import (
    enforce_retention,
    hand_over_inactive_accounts,
    inactive_accounts,
)
from shared.retention.sweeps import PENDING, SWEEPS, Sweep
from tests.support.accounts import make_account
from tests.support.jobs import job_row
from tests.support.threads import run_together

T0 = datetime(2030, 3, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)


# --- one row per swept table, timestamped at `at`; each returns how to find it again -------------------


def _security_log(conn: Connection, user_id: uuid.UUID, at: datetime) -> tuple[str, Any]:
    row = conn.execute(
        """insert into security_log (user_id, at, ip, user_agent, method, route)
           values (%s, %s, '203.0.113.77', 'Mozilla/5.0 secret-agent', 'GET', '/v1/me') returning id""",
        (user_id, at),
    ).fetchone()
    assert row is not None
    return "id", row["id"]


def _security_events(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    ident = uuid.uuid4()
    conn.execute(
        """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start, window_seconds)
           values (%s, %s, 'auth_failures', 'ip', %s, 21, %s, 60)""",
        (ident, at, uuid.uuid4().hex, at),
    )
    return "id", ident


def _webhook_inbox(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    webhook_id = f"wh_{uuid.uuid4().hex}"
    conn.execute(
        """insert into billing_webhook_inbox (webhook_id, event_type, payload, signed_at, received_at, status,
                                              processed_at)
           values (%s, 'order.paid', %s, %s, %s, 'processed', %s)""",
        (webhook_id, Jsonb({"type": "order.paid"}), at, at, at),
    )
    return "webhook_id", webhook_id


def _billing_refunds(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    ident = f"re_{uuid.uuid4().hex}"
    conn.execute(
        """insert into billing_refunds (polar_refund_id, polar_order_id, amount, currency, revocation_ref, recorded_at)
           values (%s, 'ord_1', 500, 'eur', %s, %s)""",
        (ident, f"refund:{ident}", at),
    )
    return "polar_refund_id", ident


def _billing_orders(conn: Connection, user_id: uuid.UUID, at: datetime) -> tuple[str, Any]:
    ident = f"ord_{uuid.uuid4().hex}"
    conn.execute(
        """insert into billing_orders (polar_order_id, user_id, customer_ref, billing_reason, status, currency,
                                       net_amount, tax_amount, total_amount, grant_state, ordered_at)
           values (%s, %s, 'ref', 'purchase', 'paid', 'eur', 1000, 200, 1200, 'none', %s)""",
        (ident, user_id, at),
    )
    return "polar_order_id", ident


def _audit_log(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    row = conn.execute(
        "insert into audit_log (at, actor, action, subject_ref) values (%s, 'operator', 'credits.grant', 'x') "
        "returning id",
        (at,),
    ).fetchone()
    assert row is not None
    return "id", row["id"]


def _blocked_signups(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    digest = uuid.uuid4().hex
    conn.execute(
        "insert into blocked_signups (subject_hash, blocked_at, expires_at) values (%s, %s, %s)",
        (digest, at, at + DAY),
    )
    return "subject_hash", digest


def _failed_job(conn: Connection, user_id: uuid.UUID, at: datetime) -> tuple[str, Any]:
    job_id = job_row(conn, user_id)
    conn.execute(
        "update jobs set prompt = 'a portrait of my neighbour', params = %s where id = %s",
        (Jsonb({"count": 2, "negative_prompt": "my neighbour's car"}), job_id),
    )
    conn.execute(
        """update jobs set status = 'failed', finished_at = %s, error_code = 'timeout', error_message = 'late'
           where id = %s""",
        (at, job_id),
    )
    return "id", job_id


def _contact_ticket(conn: Connection, _user: uuid.UUID, at: datetime) -> tuple[str, Any]:
    ticket = conn.execute(
        """insert into support_tickets (user_id, subject, source, topic, contact_email, contact_name, created_at,
                                        updated_at)
           values (null, 'Contact form: general', 'contact', 'general', 'someone@example.com', 'Someone', %s, %s)
           returning id""",
        (at, at),
    ).fetchone()
    assert ticket is not None
    conn.execute(
        "insert into support_messages (ticket_id, user_id, author, body) values (%s, null, 'user', 'hello')",
        (ticket["id"],),
    )
    return "id", ticket["id"]


ROWS: dict[str, Callable[[Connection, uuid.UUID, datetime], tuple[str, Any]]] = {
    "security_log": _security_log,
    "security_events": _security_events,
    "billing_webhook_inbox": _webhook_inbox,
    "billing_refunds": _billing_refunds,
    "billing_orders": _billing_orders,
    "audit_log": _audit_log,
    "blocked_signups": _blocked_signups,
    "jobs": _failed_job,
    "support_tickets": _contact_ticket,
}


def _security_log_anonymised(row: dict[str, Any], at: datetime) -> None:
    assert (str(row["ip"]), row["user_agent"]) == ("203.0.113.0", None)
    assert row["anonymised_at"] == at


def _job_inputs_cleared(row: dict[str, Any], at: datetime) -> None:
    assert (row["prompt"], row["prompt_text"], row["image_id"], row["mask_id"]) == (None, None, None, None)
    assert row["params"] == {"count": 2}  # the negative prompt goes too; the settings stay
    assert (row["status"], row["error_code"]) == ("failed", "timeout")  # the job itself stays


ANONYMISED: dict[str, Callable[[dict[str, Any], datetime], None]] = {
    "security_log": _security_log_anonymised,
    "jobs": _job_inputs_cleared,
}


def test_a_finished_job_allows_only_its_inputs_and_negative_prompt_to_be_cleared(db: Database) -> None:
    with db.transaction() as conn:
        _, job_id = _failed_job(conn, make_account(db), T0)
    for change in ("params = params || '{\"count\": 3}'", "params = '{}'", "error_code = 'other'"):
        with pytest.raises(psycopg.errors.RestrictViolation), db.transaction() as conn:
            conn.execute(f"update jobs set {change} where id = %s", (job_id,))
    with db.transaction() as conn:
        conn.execute("update jobs set params = params - 'negative_prompt', prompt = null where id = %s", (job_id,))


def test_every_sweep_has_a_time_travel_test() -> None:
    assert {sweep.table for sweep in SWEEPS} == set(ROWS)


def _row(db: Database, table: str, key: str, value: Any) -> dict[str, Any] | None:
    with db.transaction() as conn:
        return conn.execute(f"select * from {table} where {key} = %s", (value,)).fetchone()


@pytest.mark.parametrize("sweep", SWEEPS, ids=lambda sweep: f"{sweep.rule}:{sweep.table}")
def test_a_rule_touches_nothing_a_day_early_and_applies_a_day_late(db: Database, sweep: Sweep) -> None:
    user_id = make_account(db)
    with db.transaction() as conn:
        key, value = ROWS[sweep.table](conn, user_id, T0)
        _, fresh = ROWS[sweep.table](conn, user_id, T0 + 2 * DAY)  # a newer row the later run must keep
    keep = RULES[sweep.rule].keep
    before = _row(db, sweep.table, key, value)
    assert before is not None

    enforce_retention(db, None, now=T0 + keep - DAY, sweeps=[sweep])
    assert _row(db, sweep.table, key, value) == before

    report = enforce_retention(db, None, now=T0 + keep + DAY, sweeps=[sweep])
    after = _row(db, sweep.table, key, value)
    if sweep.anonymise is None:
        assert after is None
    else:
        assert after is not None
        ANONYMISED[sweep.table](after, T0 + keep + DAY)
    assert report.sweeps[0].items == 1
    assert _row(db, sweep.table, key, fresh) is not None
    # A second run finds nothing more to do.
    assert enforce_retention(db, None, now=T0 + keep + DAY, sweeps=[sweep]).items == 0


def test_unmatched_payments_wait_in_the_inbox_for_their_customer(db: Database) -> None:
    with db.transaction() as conn:
        conn.execute(
            """insert into billing_webhook_inbox (webhook_id, payload, external_customer_id, signed_at, received_at,
                                                  status, processed_at)
               values ('wh_waiting', '{}', %s, %s, %s, 'unmatched', %s)""",
            (str(uuid.uuid4()), T0, T0, T0),
        )
    enforce_retention(db, None, now=T0 + 400 * DAY)
    assert _row(db, "billing_webhook_inbox", "webhook_id", "wh_waiting") is not None


def test_settings_override_the_security_log_period(db: Database, settings: Settings) -> None:
    user_id = make_account(db)
    with db.transaction() as conn:
        _, ident = _security_log(conn, user_id, T0)
    short = settings.model_copy(update={"security_log_retention_days": 7})
    run_enforce_retention(db, T0 + 6 * DAY, short)
    assert str((_row(db, "security_log", "id", ident) or {})["ip"]) == "203.0.113.77"
    run_enforce_retention(db, T0 + 8 * DAY, short)
    assert str((_row(db, "security_log", "id", ident) or {})["ip"]) == "203.0.113.0"


# --- storage objects go before their rows ------------------------------------------------------------

EXPORTS = Sweep("exports", "scratch_exports", column="finished_at", storage_key="storage_key", lease="claimed_until")


def _exports_table(db: Database, storage: LocalStorage, user_id: uuid.UUID, finished: list[datetime]) -> list[str]:
    """A stand-in for the exports table to come: the sweep engine only needs the columns the Sweep names."""
    keys = []
    with db.transaction() as conn:
        conn.execute(
            """create table if not exists scratch_exports (id uuid primary key, finished_at timestamptz not null,
                   storage_key text, claimed_until timestamptz)"""
        )
        for at in finished:
            key = f"users/{user_id}/exports/{uuid.uuid4()}.zip"
            storage.put(key, b"PK zip bytes", "image/png")
            conn.execute(
                "insert into scratch_exports (id, finished_at, storage_key) values (%s, %s, %s)",
                (uuid.uuid4(), at, key),
            )
            keys.append(key)
    return keys


def _count(db: Database, table: str) -> int:
    with db.transaction() as conn:
        row = conn.execute(f"select count(*) as n from {table}").fetchone()
    assert row is not None
    return int(row["n"])


def test_objects_are_deleted_with_their_rows_and_only_when_due(db: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    user_id = make_account(db)
    old, new = _exports_table(db, storage, user_id, [T0, T0 + 3 * DAY])
    keep = RULES["exports"].keep

    enforce_retention(db, storage, now=T0 + keep - DAY, sweeps=[EXPORTS])
    assert storage.exists(old)
    assert _count(db, "scratch_exports") == 2

    report = enforce_retention(db, storage, now=T0 + keep + DAY, sweeps=[EXPORTS])
    assert report.items == 1
    assert not storage.exists(old)
    assert storage.exists(new)
    assert _count(db, "scratch_exports") == 1


def test_a_run_that_died_after_marking_is_resumed_once_its_lease_ends(db: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    user_id = make_account(db)
    (key,) = _exports_table(db, storage, user_id, [T0])
    now = T0 + 30 * DAY
    with db.transaction() as conn:  # what a run leaves behind if it dies between marking and deleting
        conn.execute("update scratch_exports set claimed_until = %s", (now + timedelta(minutes=15),))
    assert enforce_retention(db, storage, now=now, sweeps=[EXPORTS]).items == 0  # another run's claim
    assert storage.exists(key)
    assert enforce_retention(db, storage, now=now + timedelta(minutes=16), sweeps=[EXPORTS]).items == 1
    assert not storage.exists(key)
    assert _count(db, "scratch_exports") == 0


def test_trashed_images_are_purged_with_their_objects_after_30_days(db: Database, settings: Settings) -> None:
    storage = build_storage(settings)
    user_id = make_account(db)
    key = f"users/{user_id}/uploads/{uuid.uuid4()}.png"
    storage.put(key, b"png bytes", "image/png")
    media_id = uuid.uuid4()
    with db.transaction() as conn:
        conn.execute(
            """insert into media (id, user_id, kind, storage_key, content_type, width, height, bytes, sha256)
               values (%s, %s, 'upload', %s, 'image/png', 8, 8, 9, %s)""",
            (media_id, user_id, key, "0" * 64),
        )
        media.trash(conn, user_id, media_id, now=T0, trash_days=settings.trash_days)
    keep = RULES["trash"].keep
    assert keep == timedelta(days=settings.trash_days)

    assert run_purge_media(db, T0 + keep - DAY, settings) == 0
    assert storage.exists(key)
    assert _count(db, "media") == 1

    assert run_purge_media(db, T0 + keep + DAY, settings) == 1
    assert not storage.exists(key)
    assert _count(db, "media") == 0


# --- two runs at once ---------------------------------------------------------------------------------


def test_two_concurrent_runs_process_each_item_once(db: Database, tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "storage")
    user_id = make_account(db)
    n = 1200
    with db.transaction() as conn:
        conn.execute(
            """insert into security_events (id, at, kind, subject_kind, subject_ref, count, window_start,
                                            window_seconds)
               select gen_random_uuid(), %(at)s, 'auth_failures', 'ip', md5(i::text), 21, %(at)s, 60
                 from generate_series(1, %(n)s) as i""",
            {"at": T0, "n": n},
        )
        conn.execute(
            """insert into security_log (user_id, at, ip, user_agent, method, route)
               select %(user)s, %(at)s, '198.51.100.9', 'agent', 'GET', '/v1/me' from generate_series(1, %(n)s)""",
            {"user": user_id, "at": T0, "n": n},
        )
    keys = _exports_table(db, storage, user_id, [T0] * 300)
    sweeps = [*SWEEPS, EXPORTS]
    now = T0 + 200 * DAY

    reports = run_together(
        lambda: enforce_retention(db, storage, now=now, sweeps=sweeps, batch=50),
        lambda: enforce_retention(db, storage, now=now, sweeps=sweeps, batch=50),
    )

    def items(table: str) -> list[int]:
        return [next(r.items for r in report.sweeps if r.table == table) for report in reports]

    assert sum(items("security_events")) == n
    assert sum(items("security_log")) == n
    assert sum(items("scratch_exports")) == 300
    assert _count(db, "security_events") == 0
    assert _count(db, "scratch_exports") == 0
    assert not any(storage.exists(key) for key in keys)
    with db.transaction() as conn:
        row = conn.execute(
            "select count(*) filter (where anonymised_at is null) as left, count(distinct anonymised_at) as stamps "
            "from security_log"
        ).fetchone()
    assert row == {"left": 0, "stamps": 1}


# --- relationship + 3 years: inactive accounts are handed to erasure ----------------------------------


def _account_active_at(db: Database, at: datetime) -> uuid.UUID:
    user_id = make_account(db)
    with db.transaction() as conn:
        conn.execute("update accounts set last_active_at = %s where id = %s", (at, user_id))
    return user_id


def _subscribe(db: Database, user_id: uuid.UUID, status: str) -> None:
    with db.transaction() as conn:
        conn.execute(
            """insert into billing_subscriptions (polar_subscription_id, user_id, status, cancel_at_period_end,
                                                  event_at)
               values (%s, %s, %s, false, now())""",
            (f"sub_{uuid.uuid4().hex}", user_id, status),
        )


def test_inactive_accounts_are_found_a_day_after_three_years_not_before(db: Database) -> None:
    idle = _account_active_at(db, T0)
    paying = _account_active_at(db, T0)
    _subscribe(db, paying, "active")
    lapsed = _account_active_at(db, T0)
    _subscribe(db, lapsed, "canceled")
    _account_active_at(db, T0 + 10 * DAY)
    keep = RULES["relationship_plus_3_years"].keep

    with db.transaction() as conn:  # the cutoff a run at `now` uses is now - keep
        assert inactive_accounts(conn, cutoff=(T0 + keep - DAY) - keep, limit=100) == []
        found = inactive_accounts(conn, cutoff=(T0 + keep + DAY) - keep, limit=100)
    assert sorted(account_id for _at, account_id in found) == sorted([idle, lapsed])


def test_inactive_accounts_are_handed_to_erasure_once_by_concurrent_runs(db: Database) -> None:
    idle = [_account_active_at(db, T0) for _ in range(30)]
    handed: list[uuid.UUID] = []
    lock = threading.Lock()

    def schedule(conn: Connection, ids: list[uuid.UUID], _now: datetime) -> int:
        # Stands in for account erasure: the account leaves the inactive set in the same transaction.
        conn.execute("set local atelier.erasing = 'on'")
        conn.execute("delete from accounts where id = any(%s)", (ids,))
        with lock:
            handed.extend(ids)
        return len(ids)

    now = T0 + RULES["relationship_plus_3_years"].keep + DAY
    results = run_together(
        lambda: hand_over_inactive_accounts(db, now=now, schedule_erasure=schedule, batch=4),
        lambda: hand_over_inactive_accounts(db, now=now, schedule_erasure=schedule, batch=4),
    )
    assert sorted(handed) == sorted(idle)
    assert sum(scheduled for _found, scheduled in results) == 30


def test_an_idempotent_scheduler_sees_every_inactive_account_even_when_all_are_scheduled_already(
    db: Database,
) -> None:
    """Account erasure ignores an account it has scheduled; the walk pages on, so none is starved."""
    idle = [_account_active_at(db, T0 + timedelta(seconds=i)) for i in range(9)]
    seen: list[uuid.UUID] = []

    def schedule(_conn: Connection, ids: list[uuid.UUID], _now: datetime) -> int:
        seen.extend(ids)
        return 0  # every one was scheduled by an earlier run

    now = T0 + RULES["relationship_plus_3_years"].keep + DAY
    assert hand_over_inactive_accounts(db, now=now, schedule_erasure=schedule, batch=2) == (9, 0)
    assert seen == idle


def test_without_an_erasure_scheduler_inactive_accounts_are_only_counted(db: Database) -> None:
    idle = _account_active_at(db, T0)
    keep = RULES["relationship_plus_3_years"].keep
    report = enforce_retention(db, None, now=T0 + keep - DAY, sweeps=[])
    assert (report.inactive_accounts, report.erasures_scheduled) == (0, 0)
    report = enforce_retention(db, None, now=T0 + keep + DAY, sweeps=[])
    assert (report.inactive_accounts, report.erasures_scheduled) == (1, 0)
    with db.transaction() as conn:
        assert conn.execute("select id from accounts").fetchall() == [{"id": idle}]


def test_pending_rules_wait_for_tables_that_do_not_exist_yet(db: Database) -> None:
    """When the exports or jobs table arrives, this fails until its Sweep is added to sweeps.py."""
    with db.transaction() as conn:
        existing = {
            row["table_name"]
            for row in conn.execute(
                "select table_name from information_schema.tables where table_schema = 'public'"
            ).fetchall()
        }
    for rule_name, table in PENDING.items():
        assert table not in existing, f"{table} exists now: add its Sweep for rule {rule_name!r} and drop it here"


def test_enforce_retention_schedules_erasure_of_inactive_accounts_once(db: Database, settings: Settings) -> None:
    """The real hand-over: account erasure is scheduled (account locked, grace period) without a rights request."""
    idle, active = _account_active_at(db, T0), _account_active_at(db, T0 + 400 * DAY)
    now = T0 + RULES["relationship_plus_3_years"].keep + DAY
    run_enforce_retention(db, now, settings)
    run_enforce_retention(db, now + DAY, settings)
    with db.transaction() as conn:
        scheduled = conn.execute("select user_id, scheduled_for from account_erasures").fetchall()
        registered = conn.execute("select count(*) as n from privacy_requests").fetchone()
    assert [(row["user_id"], row["scheduled_for"]) for row in scheduled] == [
        (idle, now + timedelta(days=settings.deletion_grace_days))
    ]
    assert registered is not None
    assert registered["n"] == 0
    assert active != idle
