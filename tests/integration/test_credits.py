"""The credit ledger's rules against the real embedded Postgres."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from config.settings import Settings
from shared import audit
from shared.auth import Principal
from shared.credits import service as credits
from shared.kit.db import Database
from shared.kit.db.database import connect_kwargs
from shared.kit.errors import BadRequest, Conflict, HoldAlreadyResolved, InsufficientCredits, NotFound
from shared.lifecycle.signup import ensure_account
from tests.support.accounts import make_account

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def _count(db: Database, table: str) -> int:
    with db.transaction() as conn:
        row = conn.execute(f"select count(*) as n from {table}").fetchone()
    assert row is not None
    return int(row["n"])


def _snapshot(db: Database) -> dict[str, object]:
    """Everything the credit tables hold, to prove that a refused or replayed call changed nothing."""
    out: dict[str, object] = {}
    with db.transaction() as conn:
        for table, order in (
            ("credit_grants", "id"),
            ("credit_grant_state", "grant_id"),
            ("credit_holds", "id"),
            ("credit_hold_allocations", "hold_id, seq"),
            ("credit_revocations", "id"),
            ("credit_ledger", "id"),
        ):
            out[table] = conn.execute(f"select * from {table} order by {order}").fetchall()
    return out


def _grant(
    db: Database, user_id: uuid.UUID, amount: int, ref: str, expires_at: datetime | None = None, *, at: datetime = T0
) -> None:
    with db.transaction() as conn:
        credits.grant(
            conn, user_id=user_id, amount=amount, kind="purchase", source_ref=ref, expires_at=expires_at, now=at
        )


def _balance(db: Database, user_id: uuid.UUID, now: datetime = T0) -> tuple[int, int]:
    with db.transaction() as conn:
        b = credits.balance(conn, user_id, now=now)
    return b.available, b.pending


def _remaining(db: Database, ref: str) -> int:
    with db.transaction() as conn:
        grant = credits.grant_by_source_ref(conn, ref)
    assert grant is not None
    return grant.remaining


def test_grant_adds_credits_and_a_replay_changes_nothing(db: Database) -> None:
    user = make_account(db)
    with db.transaction() as conn:
        first = credits.grant(
            conn, user_id=user, amount=50, kind="purchase", source_ref="order_1", expires_at=None, now=T0
        )
    before = _snapshot(db)
    with db.transaction() as conn:
        again = credits.grant(
            conn, user_id=user, amount=50, kind="purchase", source_ref="order_1", expires_at=None, now=T0
        )
    assert again.id == first.id
    assert _snapshot(db) == before
    assert _balance(db, user) == (50, 0)

    with pytest.raises(Conflict) as mismatch, db.transaction() as conn:
        credits.grant(conn, user_id=user, amount=60, kind="purchase", source_ref="order_1", expires_at=None)
    assert mismatch.value.code == "source_ref_conflict"
    assert _snapshot(db) == before


def test_grant_refuses_bad_input_and_unknown_accounts(db: Database) -> None:
    user = make_account(db)
    bad: list[dict[str, object]] = [
        {"amount": 0},
        {"amount": -3},
        {"amount": True},
        {"kind": "gift"},
        {"source_ref": ""},
        {"expires_at": T0 - timedelta(days=1)},
        {"expires_at": datetime(2031, 1, 1)},  # naive
    ]
    for override in bad:
        args: dict[str, object] = {
            "user_id": user,
            "amount": 5,
            "kind": "purchase",
            "source_ref": "order_x",
            "expires_at": None,
            "now": T0,
            **override,
        }
        with pytest.raises(BadRequest), db.transaction() as conn:
            credits.grant(conn, **args)  # type: ignore[arg-type]
    with pytest.raises(NotFound), db.transaction() as conn:
        credits.grant(conn, user_id=uuid.uuid4(), amount=5, kind="purchase", source_ref="order_y", expires_at=None)
    assert _count(db, "credit_grants") == 0


def test_reserve_spends_the_soonest_expiring_credit_first(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 5, "lifetime")
    _grant(db, user, 3, "month", T0 + timedelta(days=10))
    _grant(db, user, 2, "soon", T0 + timedelta(days=2))
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
    assert (hold.amount, hold.status) == (4, "pending")
    assert hold.expires_at == T0 + timedelta(seconds=Settings().credit_hold_ttl_seconds)
    assert [_remaining(db, r) for r in ("soon", "month", "lifetime")] == [0, 1, 5]
    assert _balance(db, user) == (6, 4)

    with db.transaction() as conn:
        credits.reserve(conn, user_id=user, amount=3, ref="job_2", now=T0)
    assert [_remaining(db, r) for r in ("soon", "month", "lifetime")] == [0, 0, 3]


def test_reserve_without_enough_credits_is_402_and_writes_nothing(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 3, "order_1")
    before = _snapshot(db)
    with pytest.raises(InsufficientCredits) as refused, db.transaction() as conn:
        credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
    assert (refused.value.status, refused.value.code) == (402, "insufficient_credits")
    assert _snapshot(db) == before
    with pytest.raises(InsufficientCredits), db.transaction() as conn:
        credits.reserve(conn, user_id=make_account(db), amount=1, ref="job_2", now=T0)
    with pytest.raises(InsufficientCredits), db.transaction() as conn:
        credits.reserve(conn, user_id=uuid.uuid4(), amount=1, ref="job_3", now=T0)


def test_reserve_is_idempotent_on_its_ref(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 10, "order_1")
    with db.transaction() as conn:
        first = credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
    before = _snapshot(db)
    with db.transaction() as conn:
        again = credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
    assert again == first
    assert _snapshot(db) == before
    with pytest.raises(Conflict) as reused, db.transaction() as conn:
        credits.reserve(conn, user_id=user, amount=5, ref="job_1", now=T0)
    assert reused.value.code == "hold_ref_conflict"
    assert _snapshot(db) == before
    assert _balance(db, user) == (6, 4)


def test_partial_post_spends_in_order_and_releases_the_rest(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 2, "soon", T0 + timedelta(days=2))
    _grant(db, user, 5, "lifetime")
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
        posted = credits.post(conn, hold.id, 3, now=T0 + timedelta(minutes=1))
    assert (posted.status, posted.posted_amount) == ("posted", 3)
    # 2 spent from "soon", 1 from "lifetime"; the unposted 1 went back to "lifetime".
    with db.transaction() as conn:
        soon = credits.grant_by_source_ref(conn, "soon")
        life = credits.grant_by_source_ref(conn, "lifetime")
    assert soon is not None
    assert life is not None
    assert (soon.remaining, soon.spent, life.remaining, life.spent) == (0, 2, 4, 1)
    assert _balance(db, user) == (4, 0)
    with db.transaction() as conn:
        page = credits.ledger(conn, user, cursor=None, limit=50)
    kinds = sorted((e.type, e.amount) for e in page.items)
    assert kinds == [("grant", 2), ("grant", 5), ("hold", 4), ("post", 3), ("release", 1)]


def test_a_hold_resolves_exactly_once(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 10, "order_1")
    with db.transaction() as conn:
        posted_hold = credits.reserve(conn, user_id=user, amount=3, ref="job_1", now=T0)
        voided_hold = credits.reserve(conn, user_id=user, amount=2, ref="job_2", now=T0)
        credits.post(conn, posted_hold.id)
        voided = credits.void(conn, voided_hold.id)
    assert (voided.status, voided.posted_amount) == ("voided", None)
    assert _balance(db, user) == (7, 0)
    before = _snapshot(db)
    for hold_id in (posted_hold.id, voided_hold.id):
        for resolve in (credits.post, credits.void):
            with pytest.raises(HoldAlreadyResolved) as refused, db.transaction() as conn:
                resolve(conn, hold_id)
            assert (refused.value.status, refused.value.code) == (409, "hold_already_resolved")
    assert _snapshot(db) == before
    with pytest.raises(NotFound), db.transaction() as conn:
        credits.post(conn, uuid.uuid4())
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=1, ref="job_3")
    with pytest.raises(BadRequest), db.transaction() as conn:
        credits.post(conn, hold.id, 2)
    with db.transaction() as conn:
        assert credits.post(conn, hold.id, 1).posted_amount == 1


def test_overdue_holds_are_voided_by_the_sweeper_and_by_a_starved_reserve(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 5, "order_1")
    with db.transaction() as conn:
        credits.reserve(conn, user_id=user, amount=2, ref="job_1", ttl=timedelta(minutes=5), now=T0)
        credits.reserve(conn, user_id=user, amount=3, ref="job_2", ttl=timedelta(minutes=60), now=T0)
    with db.transaction() as conn:
        assert credits.expire_holds(conn, now=T0 + timedelta(minutes=4)) == 0
        assert credits.expire_holds(conn, now=T0 + timedelta(minutes=6)) == 1
        assert credits.expire_holds(conn, now=T0 + timedelta(minutes=6)) == 0
    assert _balance(db, user) == (2, 3)
    # The scheduler is late: a reserve that needs the credits voids the user's own overdue hold itself.
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=5, ref="job_3", now=T0 + timedelta(hours=2))
    assert hold.status == "pending"
    with db.transaction() as conn:
        stale = credits.hold_by_ref(conn, "job_2")
    assert stale is not None
    assert stale.status == "voided"
    assert _balance(db, user) == (0, 5)


def test_expired_grants_stop_counting_at_their_expiry(db: Database) -> None:
    user = make_account(db)
    end = T0 + timedelta(days=30)
    _grant(db, user, 4, "month", end)
    _grant(db, user, 1, "lifetime")
    assert _balance(db, user, end - timedelta(seconds=1)) == (5, 0)
    assert _balance(db, user, end) == (1, 0)
    with pytest.raises(InsufficientCredits), db.transaction() as conn:
        credits.reserve(conn, user_id=user, amount=2, ref="job_1", now=end)
    # A hold drawn before expiry and voided after it returns credits that no longer count.
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=3, ref="job_2", now=end - timedelta(days=1))
        credits.void(conn, hold.id, now=end + timedelta(days=1))
    assert _balance(db, user, end + timedelta(days=1)) == (1, 0)


def test_revoke_removes_only_unspent_credit_and_is_idempotent(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 10, "order_1", at=T0 - timedelta(days=1))
    _grant(db, user, 5, "order_2")
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=7, ref="job_1", now=T0)
        credits.post(conn, hold.id, 4)  # order_1 (older) spent 4, 3 released back to it -> order_1 has 6
    with db.transaction() as conn:
        assert credits.revoke(conn, grant_source_ref="order_1", revocation_ref="refund_1", amount=2, now=T0) == 2
    assert _remaining(db, "order_1") == 4
    before = _snapshot(db)
    with db.transaction() as conn:
        assert credits.revoke(conn, grant_source_ref="order_1", revocation_ref="refund_1", amount=2, now=T0) == 2
    assert _snapshot(db) == before
    with db.transaction() as conn:
        assert credits.revoke(conn, grant_source_ref="order_1", revocation_ref="refund_2", amount=100, now=T0) == 4
        assert credits.revoke(conn, grant_source_ref="order_1", revocation_ref="refund_3", now=T0) == 0
    assert _balance(db, user) == (5, 0)
    with pytest.raises(Conflict) as reused, db.transaction() as conn:
        credits.revoke(conn, grant_source_ref="order_2", revocation_ref="refund_1")
    assert reused.value.code == "revocation_ref_conflict"
    with pytest.raises(NotFound), db.transaction() as conn:
        credits.revoke(conn, grant_source_ref="order_404", revocation_ref="refund_9")
    with db.transaction() as conn:
        grant = credits.grant_by_source_ref(conn, "order_1")
    assert grant is not None
    assert (grant.remaining, grant.spent, grant.revoked) == (0, 4, 6)


def test_revoking_everything_also_revokes_credit_a_hold_releases_later(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 10, "order_1")
    with db.transaction() as conn:
        held = credits.reserve(conn, user_id=user, amount=4, ref="job_1", now=T0)
        partial = credits.reserve(conn, user_id=user, amount=3, ref="job_2", now=T0)
        assert credits.revoke(conn, grant_source_ref="order_1", revocation_ref="chargeback_1", now=T0) == 3
    assert _balance(db, user) == (0, 7)
    with db.transaction() as conn:
        credits.void(conn, held.id)
        credits.post(conn, partial.id, 1)
    assert _balance(db, user) == (0, 0)
    with db.transaction() as conn:
        grant = credits.grant_by_source_ref(conn, "order_1")
        entries = credits.ledger(conn, user, cursor=None, limit=50).items
    assert grant is not None
    assert (grant.remaining, grant.spent, grant.revoked) == (0, 1, 9)
    revokes = sorted((e.amount, e.hold_id is not None) for e in entries if e.type == "revoke")
    assert revokes == [(2, True), (3, False), (4, True)]


def _draw(db: Database, hold_id: uuid.UUID) -> tuple[uuid.UUID | None, list[tuple[int, uuid.UUID, int]]]:
    """How a hold records what it drew: the grant named on its row, and its allocation rows (seq, grant, amount)."""
    with db.transaction() as conn:
        row = conn.execute("select grant_id from credit_holds where id = %s", (hold_id,)).fetchone()
        allocations = conn.execute(
            "select seq, grant_id, amount from credit_hold_allocations where hold_id = %s order by seq", (hold_id,)
        ).fetchall()
    assert row is not None
    return row["grant_id"], [(a["seq"], a["grant_id"], a["amount"]) for a in allocations]


def _state(db: Database, ref: str) -> tuple[int, int, int]:
    with db.transaction() as conn:
        grant = credits.grant_by_source_ref(conn, ref)
    assert grant is not None
    return grant.remaining, grant.spent, grant.revoked


@pytest.mark.parametrize(
    ("amount", "resolution", "soon", "lifetime"),
    [
        # One grant covers the hold: it is named on the hold's row, and no allocation row is written.
        (4, "post", (1, 4, 0), (5, 0, 0)),
        (4, "post 3", (2, 3, 0), (5, 0, 0)),
        (4, "void", (5, 0, 0), (5, 0, 0)),
        (4, "revoke, void", (0, 0, 5), (5, 0, 0)),  # the revocation took 1; the 4 released are revoked on return
        # Two grants: allocation rows in spend order, as before migration 0036.
        (7, "post", (0, 5, 0), (3, 2, 0)),
        (7, "post 3", (2, 3, 0), (5, 0, 0)),
        (7, "void", (5, 0, 0), (5, 0, 0)),
        (7, "revoke, void", (0, 0, 5), (5, 0, 0)),  # all 5 of "soon" were held: revoked when the hold returns them
    ],
)
def test_a_hold_drawn_from_one_grant_or_several_resolves_alike(
    db: Database, amount: int, resolution: str, soon: tuple[int, int, int], lifetime: tuple[int, int, int]
) -> None:
    user = make_account(db)
    _grant(db, user, 5, "soon", T0 + timedelta(days=2))
    _grant(db, user, 5, "lifetime")
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=amount, ref="job_1", now=T0)
        ids = {ref: g.id for ref in ("soon", "lifetime") if (g := credits.grant_by_source_ref(conn, ref))}
    if amount <= 5:
        assert _draw(db, hold.id) == (ids["soon"], [])
    else:
        assert _draw(db, hold.id) == (None, [(0, ids["soon"], 5), (1, ids["lifetime"], amount - 5)])
    assert _balance(db, user) == (10 - amount, amount)
    with db.transaction() as conn:
        if resolution == "revoke, void":
            credits.revoke(conn, grant_source_ref="soon", revocation_ref="chargeback_1", now=T0)
        if resolution.endswith("void"):
            credits.void(conn, hold.id, now=T0)
        else:
            credits.post(conn, hold.id, 3 if resolution == "post 3" else None, now=T0)
    assert (_state(db, "soon"), _state(db, "lifetime")) == (soon, lifetime)
    assert _balance(db, user) == (soon[0] + lifetime[0], 0)
    with db.transaction() as conn:
        entries = credits.ledger(conn, user, cursor=None, limit=50).items
    # The ledger alone replays to what is left: + grant, release, void; - hold, revoke; post moves nothing.
    sign = {"grant": 1, "release": 1, "void": 1, "hold": -1, "revoke": -1, "post": 0}
    assert sum(sign[e.type] * e.amount for e in entries) == soon[0] + lifetime[0]
    with pytest.raises(HoldAlreadyResolved), db.transaction() as conn:
        credits.void(conn, hold.id)


def test_the_database_refuses_history_edits_and_overdrafts(db: Database) -> None:
    user = make_account(db)
    _grant(db, user, 3, "order_1")
    _grant(db, user, 3, "order_2")
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=4, ref="job_1")  # from both grants: allocation rows
        credits.post(conn, hold.id)
        audit.record(conn, actor="operator", action="test.write", subject_id=user, details={"amount": 1})
    statements = [
        "update credit_ledger set amount = amount + 1",
        "delete from credit_ledger",
        "update credit_grants set amount = 100",
        "update credit_hold_allocations set amount = 3",
        "update credit_grant_state set remaining = remaining + 10",  # more than the grant
        "update credit_grant_state set remaining = -1",
        "update credit_holds set status = 'voided', posted_amount = null",  # a resolved hold
        "delete from credit_holds",
        "update audit_log set actor = 'x'",
    ]
    for sql in statements:
        with pytest.raises(psycopg.errors.IntegrityError), db.transaction() as conn:
            conn.execute(sql)
    with db.transaction() as conn:
        pending = credits.reserve(conn, user_id=user, amount=1, ref="job_2")
    with pytest.raises(psycopg.errors.IntegrityError), db.transaction() as conn:
        conn.execute("update credit_holds set amount = 2 where id = %s", (pending.id,))
    with pytest.raises(psycopg.errors.IntegrityError), db.transaction() as conn:  # the grant it drew from, too
        conn.execute("update credit_holds set grant_id = null where id = %s", (pending.id,))
    # Erasure may delete everything, through the account's cascade.
    with db.transaction() as conn:
        conn.execute("set local atelier.erasing = 'on'")
        conn.execute("delete from accounts where id = %s", (user,))
    assert _count(db, "credit_ledger") == 0
    assert _count(db, "credit_holds") == 0


def test_the_database_refuses_each_out_of_range_value(db: Database) -> None:
    """The single-column rules (domains since migration 0040) hold for every write of their column, each alone: a
    value that breaks only that rule is refused."""
    user = make_account(db)
    _grant(db, user, 5, "order_1")
    with db.transaction() as conn:
        hold = credits.reserve(conn, user_id=user, amount=2, ref="job_1")
    statements = [
        "update credit_grant_state set spent = -1",  # the sum stays within the amount: only spent >= 0 refuses it
        "update credit_grant_state set revoked = -1",
        "update credit_grant_state set expired = -1",
        "update credit_grant_state set remaining = -1",
        "update credit_grant_state set amount = 0, remaining = 0",
        f"insert into credit_ledger (user_id, type, amount) values ('{user}', 'hold', -1)",
        f"insert into credit_ledger (user_id, type, amount) values ('{user}', 'gift', 1)",
        f"""insert into credit_holds (user_id, ref, amount, expires_at)
            values ('{user}', 'job_2', 0, now() + interval '1 hour')""",
        f"""insert into credit_holds (user_id, ref, amount, expires_at)
            values ('{user}', '', 1, now() + interval '1 hour')""",
        f"""insert into credit_holds (user_id, ref, amount, expires_at)
            values ('{user}', repeat('x', 201), 1, now() + interval '1 hour')""",
    ]
    before = _snapshot(db)
    for sql in statements:
        with pytest.raises(psycopg.errors.CheckViolation), db.transaction() as conn:
            conn.execute(sql)
    assert _snapshot(db) == before
    with db.transaction() as conn:  # the edges of each range are stored
        conn.execute(
            """insert into credit_holds (user_id, ref, amount, expires_at)
               values (%s, repeat('x', 200), 1, now() + interval '1 hour')""",
            (user,),
        )
        credits.post(conn, hold.id, 0)  # posted_amount 0: a ledger entry of 0 credits
    assert _balance(db, user) == (5, 1)  # all released; the hold inserted by hand is pending


def test_every_connection_reads_the_credit_functions_answers_alike(database_url: str, db: Database) -> None:
    """The functions answer one composite value in binary, read by a loader each connection makes with its first
    answer (repo._call). A fresh connection's first and later answers read the same as the stored hold."""
    user = make_account(db)
    _grant(db, user, 5, "order_1")
    for n in range(2):
        with psycopg.connect(database_url, **connect_kwargs()) as conn:
            placed = credits.reserve(conn, user_id=user, amount=2, ref=f"job_{n}", now=T0)  # the first answer
            again = credits.reserve(conn, user_id=user, amount=2, ref=f"job_{n}", now=T0)  # a replay: the kept loader
            assert placed == again == credits.get_hold(conn, placed.id)
            assert (placed.user_id, placed.ref, placed.amount, placed.status) == (user, f"job_{n}", 2, "pending")
            assert placed.created_at == T0
            assert placed.expires_at > T0
            assert placed.posted_amount is None
            posted = credits.post(conn, placed.id, 1, now=T0)
            assert posted == credits.get_hold(conn, placed.id)
            assert (posted.status, posted.posted_amount, posted.resolved_at) == ("posted", 1, T0)
            with pytest.raises(InsufficientCredits):
                credits.reserve(conn, user_id=user, amount=50, ref=f"job_{n}_big", now=T0)


def test_only_the_backend_role_may_call_the_credit_functions(db: Database) -> None:
    """On Supabase every function in `public` is reachable through the Data API; these must not be."""
    role = f"probe_{uuid.uuid4().hex[:12]}"
    signatures = (
        "credit_reserve(uuid, integer, text, interval, timestamptz)",
        "credit_resolve(uuid, integer, timestamptz)",
    )
    with db.transaction() as conn:
        conn.execute(f"create role {role} nologin")
        try:
            for signature in signatures:
                row = conn.execute(
                    "select has_function_privilege(%s, %s, 'execute') as may, "
                    "has_function_privilege(current_user, %s, 'execute') as owner_may",
                    (role, signature, signature),
                ).fetchone()
                assert row == {"may": False, "owner_may": True}, signature
        finally:
            conn.execute(f"drop role {role}")


def test_new_accounts_get_signup_credits_once(db: Database, tmp_path: object) -> None:
    principal = Principal(user_id=uuid.uuid4(), email="new@example.com")
    settings = Settings(signup_credits=7, signup_credit_days=14)
    with db.transaction() as conn:
        account, created = ensure_account(conn, principal, settings=settings)
    assert created
    with db.transaction() as conn:
        ensure_account(conn, principal, settings=settings)
        grants = credits.live_grants(conn, account.id)
        balance = credits.balance(conn, account.id)
    assert [(g.kind, g.amount, g.expires_at) for g in grants] == [
        ("signup", 7, account.created_at + timedelta(days=14))
    ]
    assert (balance.available, balance.pending) == (7, 0)

    off = Principal(user_id=uuid.uuid4(), email="off@example.com")
    with db.transaction() as conn:
        other, _ = ensure_account(conn, off, settings=Settings(signup_credits=0))
        assert credits.balance(conn, other.id).available == 0


def test_settings_read_the_signup_environment_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATELIER_SIGNUP_CREDITS", "25")
    monkeypatch.setenv("ATELIER_SIGNUP_CREDIT_DAYS", "7")
    monkeypatch.setenv("ATELIER_CREDIT_HOLD_TTL_SECONDS", "90")
    settings = Settings()
    assert (settings.signup_credits, settings.signup_credit_days, settings.credit_hold_ttl_seconds) == (25, 7, 90)
    monkeypatch.delenv("ATELIER_SIGNUP_CREDITS")
    monkeypatch.delenv("ATELIER_SIGNUP_CREDIT_DAYS")
    assert (Settings().signup_credits, Settings().signup_credit_days) == (10, 30)
