"""Account erasure: an immediate lock, a grace period, then a resumable run of explicit steps.

`request_erasure` (DELETE /v1/me) writes an `account_erasures` row: from then on every token is refused
except to read /v1/me and to cancel, the gallery stops showing the account's images (the guard's SQL), and
the LOCK_STEPS run in the same transaction. `cancel_erasure` removes the row within the grace period.

After `scheduled_for`, the `erase-accounts` task claims each due account under a lease (two runs never
work on one account) and runs ERASE_STEPS, recording each step as done, so a crash or a remote failure
resumes where it stopped. Each step names the steps it must follow, and only those hold it back: a failing
remote service (Polar, Supabase Auth) delays its own step and what depends on it, while every other step still
runs in the same attempt. The orderings that matter: storage objects before the Auth user (Supabase refuses
to delete an Auth user who owns objects); the dataset purge before the personal rows (it finds the account's
dataset items through its rows); the farewell mail after every processor (it says the account is deleted) and
before its address goes; and last, in one transaction, the rows step: every row the data map declares —
deleted, anonymised or kept under a pseudonym as each entry says — then the account row itself, with a
pseudonymous tombstone so old tokens cannot re-create it. The account row and this progress row must outlive
every other step (the progress row cascades with the account), so the personal rows go early in their own
step and the rows step sweeps once more whatever a request in flight wrote since.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol
from uuid import UUID

from config.values import value
from shared import audit
from shared.accounts import repo as accounts_repo
from shared.jobs import service as jobs
from shared.kit.db.database import Connection, Database
from shared.kit.errors import Conflict
from shared.media.storage import Storage, user_prefix
from shared.notify import notifications
from shared.privacy import requests

# The mail machinery and the data map are imported by the calls that send or erase (cron tasks, rare requests): the
# API starts without them (cold start).
if TYPE_CHECKING:
    from shared.notify.email import EmailSender
    from shared.notify.mails import Site
    from shared.privacy.datamap import TableEntry

log = logging.getLogger("atelier.erasure")

LEASE = timedelta(minutes=15)  # longer than any one step; a crashed run's claim lapses after it
RETRY_AFTER = timedelta(minutes=10)  # a failed account waits this long before the next attempt


class ErasureInProgress(Conflict):
    """The grace period is over and the account is being deleted; it can no longer be cancelled."""

    code = "erasure_in_progress"


@value
class PendingErasure:
    requested_at: datetime
    scheduled_for: datetime
    steps_done: tuple[str, ...]


class PolarCustomers(Protocol):
    def __call__(self, user_id: UUID) -> bool: ...  # delete + anonymise the customer; False: none existed


class AuthUsers(Protocol):
    def delete_user(self, user_id: UUID) -> bool: ...


@value
class Processors:
    """The remote side of erasure: object storage, Polar (None when billing is off), Supabase Auth admin."""

    storage: Storage
    auth: AuthUsers
    polar: PolarCustomers | None = None
    email: EmailSender | None = None  # the "account deleted" mail; None sends nothing
    site: Site | None = None
    # Withdraws the account's images from every service-improvement dataset version and deletes its links.
    dataset: Callable[[Database, UUID, datetime], object] | None = None


# --- At once, in the DELETE /v1/me transaction --------------------------------------------------------
LockStep = Callable[[Connection, UUID, datetime], None]

# Run when erasure is requested, in order, in the request's transaction. The gallery needs no step: the
# `account_erasures` row itself withdraws the account's images (shared/privacy/guard.GALLERY_OWNER_SQL).
LOCK_STEPS: tuple[tuple[str, LockStep], ...] = (("cancel_jobs", jobs.cancel_all_for_account),)


def pending(conn: Connection, user_id: UUID) -> PendingErasure | None:
    row = conn.execute(
        "select requested_at, scheduled_for, steps_done from account_erasures where user_id = %s", (user_id,)
    ).fetchone()
    if row is None:
        return None
    return PendingErasure(row["requested_at"], row["scheduled_for"], tuple(row["steps_done"]))


def request_erasure(
    conn: Connection,
    user_id: UUID,
    *,
    now: datetime,
    grace_days: int,
    by: Literal["user", "retention", "auth_sync", "underage"] = "user",
) -> PendingErasure:
    """Lock the account and schedule its erasure `grace_days` from now; asking again changes nothing.

    `by="retention"`: the relationship-plus-3-years rule ended an inactive account; `by="auth_sync"`: its
    Supabase Auth user was deleted (shared/lifecycle/auth_sync.py); `by="underage"`: the age check refused it
    (erased at once, and no tombstone: only the short-lived block hash remains). None is a rights request, so
    nothing enters the requests register; the audit log says who started it."""
    row = conn.execute(
        """insert into account_erasures (user_id, requested_at, scheduled_for, underage) values (%s, %s, %s, %s)
           on conflict (user_id) do nothing returning requested_at""",
        (user_id, now, now + timedelta(days=grace_days), by == "underage"),
    ).fetchone()
    if row is not None:
        from shared.notify.outbox import enqueue  # noqa: PLC0415  (lazy: see the imports)

        if by == "user":
            requests.open_request(conn, user_id, "erasure", now=now)
        for _name, step in LOCK_STEPS:
            step(conn, user_id, now)
        scheduled_for = now + timedelta(days=grace_days)
        params = {"scheduled_for": scheduled_for.isoformat(), "by": by}
        enqueue(conn, "deletion_requested", user_id=user_id, params=params)
        if by in ("user", "retention"):  # underage: erased at once; auth_sync: nobody left to sign in and read it
            notifications.post(
                conn,
                user_id,
                kind="deletion_scheduled",
                title="Your account is scheduled for deletion",
                body=f"Your account and everything in it will be deleted on {scheduled_for:%Y-%m-%d}. "
                "Until then you can download your data or cancel the deletion from Privacy.",
            )
        actor = "user" if by == "user" else "system"
        audit.record(
            conn,
            actor=actor,
            action="erasure.requested",
            subject_id=user_id,
            details={"grace_days": grace_days, "by": by},
        )
    found = pending(conn, user_id)
    if found is None:  # pragma: no cover - inserted or already there, in this transaction
        raise RuntimeError("erasure row vanished")
    return found


def schedule_inactive(conn: Connection, user_ids: list[UUID], now: datetime, *, grace_days: int) -> int:
    """Retention's hand-over: schedule erasure of inactive accounts not already scheduled; returns how many."""
    scheduled = 0
    for user_id in user_ids:
        if pending(conn, user_id) is None:
            request_erasure(conn, user_id, now=now, grace_days=grace_days, by="retention")
            scheduled += 1
    return scheduled


def expedite(conn: Connection, user_id: UUID, *, now: datetime) -> bool:
    """Bring a pending erasure's date forward to `now` (its reason to wait is gone); True when it moved."""
    return bool(
        conn.execute(
            "update account_erasures set scheduled_for = %s where user_id = %s and scheduled_for > %s",
            (now, user_id, now),
        ).rowcount
    )


def cancel_erasure(conn: Connection, user_id: UUID, *, now: datetime) -> bool:
    """Unlock the account within the grace period; False when nothing was pending. 409 once it has started."""
    row = conn.execute(
        "select scheduled_for, claim, steps_done from account_erasures where user_id = %s for update", (user_id,)
    ).fetchone()
    if row is None:
        return False
    if row["scheduled_for"] <= now or row["claim"] is not None or row["steps_done"]:
        raise ErasureInProgress()
    conn.execute("delete from account_erasures where user_id = %s", (user_id,))
    open_request = requests.latest_open(conn, user_id, "erasure")
    if open_request is not None:
        requests.withdraw_request(conn, open_request.id, now=now)
    audit.record(conn, actor="user", action="erasure.cancelled", subject_id=user_id, details={})
    from shared.notify.outbox import enqueue  # noqa: PLC0415

    enqueue(conn, "deletion_canceled", user_id=user_id)
    notifications.post(
        conn,
        user_id,
        kind="deletion_canceled",
        title="Your account deletion was canceled",
        body="Your account is open again, with everything in it as it was.",
    )
    return True


# --- After the grace period, step by step -------------------------------------------------------------


def _erase_storage(conn_db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    """Every object under the prefixes the data map declares, then anything left under the user's folder."""
    from shared.privacy.datamap import STORAGE  # noqa: PLC0415

    for entry in STORAGE:
        if "{user_id}" in entry.prefix:  # shared prefixes (datasets/) are erased by their own step
            processors.storage.delete_prefix(entry.prefix.format(user_id=user_id))
    leftover = processors.storage.delete_prefix(user_prefix(user_id))
    if leftover:  # an unmapped prefix: erased anyway, but the data map should name it
        log.warning("erasure removed %d objects under unmapped prefixes", leftover)


def _erase_polar(conn_db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    if processors.polar is not None:
        processors.polar(user_id)


def _erase_dataset(db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    """The purge for one account: its dataset items, then the manifests, then (last) its keyed links."""
    if processors.dataset is not None:
        processors.dataset(db, user_id, now)


def _erase_auth(conn_db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    processors.auth.delete_user(user_id)


def _farewell_mail(db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    """The "account deleted" mail, sent before the rows step erases the address (shared/notify/farewell.py)."""
    if processors.email is not None and processors.site is not None:
        from shared.notify import farewell  # noqa: PLC0415

        farewell.send(db, user_id, processors.email, processors.site)


def _erase_entry(conn: Connection, entry: TableEntry, user_id: UUID, email: str | None = None) -> None:
    from shared.privacy.datamap import Erasure  # noqa: PLC0415

    if entry.subject_column is None:
        return  # the table names people by pseudonym only
    # The id travels as an untyped literal that Postgres reads as the column's own type (uuid, or text for an external
    # id), so the column's index serves it; casting the column to text instead read every row of every table.
    match = f'"{entry.subject_column}" = %s'
    if entry.erasure is Erasure.DELETE:  # contact-form rows tied to the account, then those naming its address
        if entry.contact_match:
            conn.execute(f'delete from "{entry.table}" where {entry.contact_match}', {"uid": str(user_id)})
        if entry.address_match and email:
            conn.execute(f'delete from "{entry.table}" where {entry.address_match}', {"email": email})
    if entry.erasure is Erasure.DELETE:
        conn.execute(f'delete from "{entry.table}" where {match}', (str(user_id),))
    elif entry.erasure is Erasure.KEEP_PSEUDONYMISED:  # the pseudonym column stays; the id goes
        conn.execute(f'update "{entry.table}" set "{entry.subject_column}" = null where {match}', (str(user_id),))
    else:  # ANONYMISE: the row stays for aggregates with every personal column cleared
        columns = (entry.subject_column, *entry.personal_columns)
        assignments = ", ".join(f'"{column}" = null' for column in columns)
        conn.execute(f'update "{entry.table}" set {assignments} where {match}', (str(user_id),))


def erase_rows(conn: Connection, user_id: UUID, *, now: datetime, tombstone: bool = True) -> None:
    """Apply each data-map entry's erasure action to the user's rows, the account row last; leave a tombstone
    (unless told not to: an under-13 refusal keeps nothing but its block hash).

    Runs with `atelier.erasing` on, the only way append-only tables (ledger, consent, audit) allow DELETE."""
    from shared.privacy.datamap import TABLES  # noqa: PLC0415

    conn.execute("set local atelier.erasing = 'on'")
    ref = audit.subject_ref(conn, user_id)
    for request in requests.list_requests(conn, now=now, status="open", user_id=user_id):
        if request.kind == "erasure":
            requests.complete_request(conn, request.id, now=now)
    account = conn.execute("select email from accounts where id = %s", (user_id,)).fetchone()
    email = account["email"] if account else None
    for entry in TABLES:
        if entry.table != "accounts":
            _erase_entry(conn, entry, user_id, email)
    _erase_entry(conn, next(e for e in TABLES if e.table == "accounts"), user_id)
    if tombstone:
        conn.execute(
            "insert into erased_accounts (subject_ref, erased_at) values (%s, %s) on conflict do nothing", (ref, now)
        )
    audit.record_for_ref(conn, actor="system", action="erasure.completed", ref=ref, details={})


def _erase_rows_step(db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    """Placeholder in the step list: the rows step runs under the claim check in `_run_one`."""


# Rows the later steps still need: the account row (the progress row cascades with it), the progress row, and the
# rights register (its open erasure request is completed, and the register pseudonymised, by the rows step).
_KEPT_UNTIL_LAST = frozenset({"accounts", "account_erasures", "privacy_requests"})


def erase_personal_rows(conn: Connection, user_id: UUID, *, keep_email: bool) -> None:
    """Every row the data map declares but those the remaining steps need, and the account row's personal columns
    (its email too unless a farewell mail is still due). The rows step later applies the whole map again."""
    from shared.privacy.datamap import TABLES  # noqa: PLC0415

    conn.execute("set local atelier.erasing = 'on'")
    account = conn.execute("select email from accounts where id = %s", (user_id,)).fetchone()
    email = account["email"] if account else None
    for entry in TABLES:
        if entry.table not in _KEPT_UNTIL_LAST:
            _erase_entry(conn, entry, user_id, email)
    accounts = next(e for e in TABLES if e.table == "accounts")
    cleared = [c for c in accounts.personal_columns if not (keep_email and c == "email")]
    accounts_repo.clear_columns(conn, user_id, cleared)


def _erase_personal_rows_step(db: Database, user_id: UUID, processors: Processors, now: datetime) -> None:
    """Placeholder in the step list: the personal rows go under the claim check in `_run_one`."""


Step = Callable[[Database, UUID, Processors, datetime], None]
REMOTE_STEPS = ("polar_customer", "auth_user")

# The erasure steps, in order, each with the steps it must follow (see the module docstring). A step whose
# prerequisites are not all done waits for a later attempt; any other step runs even when an earlier one failed.
ERASE_STEPS: tuple[tuple[str, Step, tuple[str, ...]], ...] = (
    ("storage", _erase_storage, ()),
    ("improvement_dataset", _erase_dataset, ()),
    ("personal_rows", _erase_personal_rows_step, ("improvement_dataset",)),
    ("polar_customer", _erase_polar, ()),
    ("auth_user", _erase_auth, ("storage",)),
    ("farewell_mail", _farewell_mail, ("storage", "improvement_dataset", *REMOTE_STEPS)),
    ("rows", _erase_rows_step, ("storage", "improvement_dataset", "personal_rows", *REMOTE_STEPS, "farewell_mail")),
)


def _claim(db: Database, now: datetime, only: UUID | None = None) -> tuple[UUID, uuid.UUID, tuple[str, ...]] | None:
    """Take the lease on the next due account (or on `only`, if it is due and nobody holds it)."""
    claim = uuid.uuid4()
    with db.transaction() as conn:
        row = conn.execute(
            """update account_erasures
                  set claim = %(claim)s, lease_until = %(lease)s, attempts = attempts + 1
                where user_id = (select user_id from account_erasures
                                  where scheduled_for <= %(now)s and (lease_until is null or lease_until < %(now)s)
                                    and (%(only)s::uuid is null or user_id = %(only)s::uuid)
                                  order by scheduled_for, user_id limit 1
                                  for update skip locked)
            returning user_id, steps_done""",
            {"claim": claim, "lease": now + LEASE, "now": now, "only": only},
        ).fetchone()
    if row is None:
        return None
    return row["user_id"], claim, tuple(row["steps_done"])


def _still_ours(conn: Connection, user_id: UUID, claim: uuid.UUID) -> bool | None:
    """None when the claim was lost; else whether this is an under-13 refusal (no tombstone is kept)."""
    row = conn.execute(
        "select underage from account_erasures where user_id = %s and claim = %s for update", (user_id, claim)
    ).fetchone()
    return None if row is None else bool(row["underage"])


def _sweep_after_rows(user_id: UUID, processors: Processors) -> None:
    """Objects a request in flight wrote after the storage step: with no account left, they are orphans.

    A failure here is left to the periodic orphan sweep (`sweep-orphan-objects`): the account is gone."""
    try:
        found = processors.storage.delete_prefix(user_prefix(user_id))
    except Exception as exc:
        log.warning("post-erasure storage sweep failed: %s", type(exc).__name__)
        return
    if found:
        log.warning("erasure removed %d objects written during erasure", found)


def _mark_done(db: Database, user_id: UUID, claim: uuid.UUID, name: str) -> bool:
    with db.transaction() as conn:
        return bool(
            conn.execute(
                """update account_erasures set steps_done = array_append(steps_done, %s)
                    where user_id = %s and claim = %s""",
                (name, user_id, claim),
            ).rowcount
        )


def _run_one(
    db: Database, user_id: UUID, claim: uuid.UUID, done: tuple[str, ...], *, processors: Processors, now: datetime
) -> bool:
    """Run every step not yet done whose prerequisites are done; True when the account is gone. A failing step
    does not stop the others: its error is raised once the rest ran. A lost lease stops the run."""
    finished = set(done)
    failure: Exception | None = None
    for name, step, after in ERASE_STEPS:
        if name in finished or not finished.issuperset(after):
            continue
        if name == "rows":
            with db.transaction() as conn:
                underage = _still_ours(conn, user_id, claim)
                if underage is None:
                    return False
                erase_rows(conn, user_id, now=now, tombstone=not underage)
            _sweep_after_rows(user_id, processors)
            return True
        try:
            if name == "personal_rows":
                farewell_due = processors.email is not None and "farewell_mail" not in finished
                with db.transaction() as conn:
                    if _still_ours(conn, user_id, claim) is None:
                        return False
                    erase_personal_rows(conn, user_id, keep_email=farewell_due)
            else:
                step(db, user_id, processors, now)
        except Exception as exc:  # a remote failure: the independent steps still run
            log.warning("erasure step %s failed: %s", name, type(exc).__name__)
            failure = failure or exc
            continue
        if not _mark_done(db, user_id, claim, name):
            return False
        finished.add(name)
    if failure is not None:
        raise failure
    return False  # pragma: no cover - without a failure every step ran, the rows step last


def run_erasures(db: Database, processors: Processors, *, now: datetime, limit: int = 20) -> int:
    """Erase up to `limit` accounts whose grace period is over; returns how many were erased.

    Safe to run twice at once: each account is claimed under a lease; a failing account records the error
    class, releases its claim and is retried by the next run from the step it reached."""
    erased = 0
    for _ in range(limit):
        claimed = _claim(db, now)
        if claimed is None:
            break
        erased += _attempt(db, claimed, processors=processors, now=now)
    return erased


def erase_now(db: Database, user_id: UUID, processors: Processors, *, now: datetime) -> bool:
    """Run the erasure steps for one account whose erasure is due (the under-13 refusal); True when gone.

    The same steps, claim and lease as the scheduled task: when a step fails (or another run holds the
    account), `erase-accounts` finishes the work from where it stopped."""
    claimed = _claim(db, now, only=user_id)
    return claimed is not None and _attempt(db, claimed, processors=processors, now=now) == 1


def _attempt(
    db: Database, claimed: tuple[UUID, uuid.UUID, tuple[str, ...]], *, processors: Processors, now: datetime
) -> int:
    """1 when the claimed account was erased; a failure keeps the progress and releases the claim."""
    user_id, claim, done = claimed
    try:
        return 1 if _run_one(db, user_id, claim, done, processors=processors, now=now) else 0
    except Exception as exc:  # a remote failure: keep the progress, release the claim, try the next account
        log.warning("erasure step failed: %s", type(exc).__name__)
        with db.transaction() as conn:
            conn.execute(
                """update account_erasures set claim = null, lease_until = %s, last_error = %s
                    where user_id = %s and claim = %s""",
                (now + RETRY_AFTER, type(exc).__name__[:200], user_id, claim),
            )
        return 0
