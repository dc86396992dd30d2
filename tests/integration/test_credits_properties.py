"""Property test: random sequences of credit operations against a simple in-memory model.

After every step the database must agree with the model (balance, every grant's remaining / spent /
revoked, every hold's status) and keep the invariants: nothing negative, and for each grant
amount = remaining + held + spent + revoked, and the ledger replays to the stored remaining.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.credits import service as credits
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.kit.errors import HoldAlreadyResolved, InsufficientCredits
from tests.support.accounts import make_account

T0 = datetime(2030, 1, 1, tzinfo=UTC)


@dataclass
class ModelGrant:
    id: uuid.UUID
    source_ref: str
    amount: int
    expires_at: datetime | None
    created_at: datetime
    remaining: int
    spent: int = 0
    revoked: int = 0
    closed: bool = False

    def live(self, now: datetime) -> bool:
        return self.expires_at is None or self.expires_at > now

    def order(self) -> tuple[bool, datetime, datetime, uuid.UUID]:
        return (self.expires_at is None, self.expires_at or T0, self.created_at, self.id)


@dataclass
class ModelHold:
    id: uuid.UUID
    amount: int
    expires_at: datetime
    draws: list[tuple[uuid.UUID, int]]
    status: str = "pending"


@dataclass
class Model:
    now: datetime = T0
    grants: dict[uuid.UUID, ModelGrant] = field(default_factory=dict)
    holds: list[ModelHold] = field(default_factory=list)

    def available(self) -> int:
        return sum(g.remaining for g in self.grants.values() if g.live(self.now))

    def pending(self) -> int:
        return sum(h.amount for h in self.holds if h.status == "pending")

    def resolve(self, hold: ModelHold, posted: int | None) -> None:
        left = posted or 0
        for grant_id, n in hold.draws:
            g = self.grants[grant_id]
            spent = min(n, left)
            left -= spent
            g.spent += spent
            if g.closed:
                g.revoked += n - spent
            else:
                g.remaining += n - spent
        hold.status = "voided" if posted is None else "posted"

    def draw(self, amount: int) -> list[tuple[uuid.UUID, int]] | None:
        draws = []
        need = amount
        for g in sorted((g for g in self.grants.values() if g.live(self.now) and g.remaining), key=ModelGrant.order):
            take = min(g.remaining, need)
            draws.append((g.id, take))
            need -= take
            if need == 0:
                return draws
        return None


grant_op = st.tuples(st.just("grant"), st.integers(1, 10), st.one_of(st.none(), st.integers(1, 72)))
reserve_op = st.tuples(st.just("reserve"), st.integers(1, 6), st.integers(1, 240))
resolve_op = st.tuples(st.sampled_from(["post", "void"]), st.integers(0, 20), st.floats(0, 1))
operations = st.one_of(
    grant_op,
    reserve_op,
    reserve_op,
    resolve_op,
    resolve_op,
    st.tuples(st.just("replay_grant"), st.integers(0, 20)),
    st.tuples(st.just("revoke"), st.integers(0, 20), st.one_of(st.none(), st.integers(1, 10))),
    st.tuples(st.just("advance"), st.integers(1, 36 * 60)),
    st.tuples(st.just("expire_holds")),
)
# Every sequence starts with a few grants, so most steps act on a non-empty ledger.
sequences = st.tuples(st.lists(grant_op, min_size=1, max_size=4), st.lists(operations, min_size=15, max_size=40)).map(
    lambda parts: parts[0] + parts[1]
)


def _grant(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    amount, hours = int(op[1]), op[2]  # type: ignore[call-overload]
    expires = model.now + timedelta(hours=hours) if isinstance(hours, int) else None
    ref = f"{user}:g{step}"
    g = credits.grant(
        conn, user_id=user, amount=amount, kind="purchase", source_ref=ref, expires_at=expires, now=model.now
    )
    model.grants[g.id] = ModelGrant(g.id, ref, amount, expires, model.now, amount)


def _replay_grant(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    if model.grants:
        g = list(model.grants.values())[int(op[1]) % len(model.grants)]  # type: ignore[call-overload]
        again = credits.grant(
            conn, user_id=user, amount=g.amount, kind="purchase", source_ref=g.source_ref, expires_at=g.expires_at
        )
        assert again.id == g.id


def _reserve(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    amount, minutes = int(op[1]), int(op[2])  # type: ignore[call-overload]
    draws = model.draw(amount)
    if draws is None:  # a starved reserve first voids the user's overdue holds
        for h in model.holds:
            if h.status == "pending" and h.expires_at <= model.now:
                model.resolve(h, None)
        draws = model.draw(amount)
    try:
        hold = credits.reserve(
            conn, user_id=user, amount=amount, ref=f"{user}:h{step}", ttl=timedelta(minutes=minutes), now=model.now
        )
    except InsufficientCredits:
        assert draws is None, "the database refused credits the model has"
        return
    assert draws is not None, "the database reserved credits the model does not have"
    for grant_id, n in draws:
        model.grants[grant_id].remaining -= n
    model.holds.append(ModelHold(hold.id, amount, model.now + timedelta(minutes=minutes), draws))


def _resolve(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    if not model.holds:
        return
    h = model.holds[int(op[1]) % len(model.holds)]  # type: ignore[call-overload]
    posted = round(h.amount * float(op[2])) if op[0] == "post" else None  # type: ignore[arg-type]
    try:
        if posted is None:
            credits.void(conn, h.id, now=model.now)
        else:
            credits.post(conn, h.id, posted, now=model.now)
    except HoldAlreadyResolved:
        assert h.status != "pending"
        return
    assert h.status == "pending"
    model.resolve(h, posted)


def _revoke(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    if not model.grants:
        return
    g = list(model.grants.values())[int(op[1]) % len(model.grants)]  # type: ignore[call-overload]
    requested = op[2] if isinstance(op[2], int) else None
    expected = 0 if not g.live(model.now) else min(g.remaining, requested or g.remaining)
    ref = f"{user}:r{step}"
    got = credits.revoke(conn, grant_source_ref=g.source_ref, revocation_ref=ref, amount=requested, now=model.now)
    assert got == expected
    assert credits.revoke(conn, grant_source_ref=g.source_ref, revocation_ref=ref) == expected  # a replay
    g.remaining -= expected
    g.revoked += expected
    g.closed = g.closed or requested is None


def _advance(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    model.now += timedelta(minutes=int(op[1]))  # type: ignore[call-overload]


def _expire_holds(conn: Connection, model: Model, user: uuid.UUID, op: tuple[object, ...], step: int) -> None:
    due = [h for h in model.holds if h.status == "pending" and h.expires_at <= model.now]
    others = conn.execute(  # earlier examples' accounts share this database
        "select count(*) as n from credit_holds where status = 'pending' and expires_at <= %s and user_id <> %s",
        (model.now, user),
    ).fetchone()
    assert others is not None
    assert credits.expire_holds(conn, now=model.now, limit=10_000) == len(due) + others["n"]
    for h in due:
        model.resolve(h, None)


STEPS = {
    "grant": _grant,
    "replay_grant": _replay_grant,
    "reserve": _reserve,
    "post": _resolve,
    "void": _resolve,
    "revoke": _revoke,
    "advance": _advance,
    "expire_holds": _expire_holds,
}


def _check(conn: Connection, model: Model, user: uuid.UUID) -> None:
    balance = credits.balance(conn, user, now=model.now)
    assert (balance.available, balance.pending) == (model.available(), model.pending())
    assert balance.available >= 0
    assert balance.pending >= 0
    rows = conn.execute(
        """select s.grant_id, s.amount, s.remaining, s.spent, s.revoked,
                  coalesce((select sum(a.amount) from credit_hold_allocations a join credit_holds h on h.id = a.hold_id
                             where a.grant_id = s.grant_id and h.status = 'pending'), 0)::int
                  + coalesce((select sum(h.amount) from credit_holds h
                               where h.grant_id = s.grant_id and h.status = 'pending'), 0)::int as held
             from credit_grant_state s where s.user_id = %s""",
        (user,),
    ).fetchall()
    assert len(rows) == len(model.grants)
    for row in rows:
        g = model.grants[row["grant_id"]]
        assert (row["remaining"], row["spent"], row["revoked"]) == (g.remaining, g.spent, g.revoked)
        assert row["remaining"] + row["held"] + row["spent"] + row["revoked"] == row["amount"]
    # Each hold's draw is one of two kinds (migration 0036): one grant named on the hold for its whole amount, or
    # allocation rows (two or more) adding up to its amount; never both, never neither.
    draws = conn.execute(
        """select h.amount, h.grant_id, count(a.seq)::int as n, coalesce(sum(a.amount), 0)::int as drawn
             from credit_holds h left join credit_hold_allocations a on a.hold_id = h.id
            where h.user_id = %s group by h.id""",
        (user,),
    ).fetchall()
    for d in draws:
        if d["grant_id"] is not None:
            assert (d["n"], d["drawn"]) == (0, 0)
        else:
            assert d["n"] >= 2
            assert d["drawn"] == d["amount"]
    holds = conn.execute("select id, status from credit_holds where user_id = %s", (user,)).fetchall()
    statuses = {r["id"]: r["status"] for r in holds}
    assert statuses == {h.id: h.status for h in model.holds}
    # The ledger alone replays to the stored remaining: + grant, release, void; - hold, revoke; post moves nothing.
    sign = {"grant": 1, "release": 1, "void": 1, "hold": -1, "revoke": -1, "post": 0}
    entries = conn.execute("select type, amount from credit_ledger where user_id = %s", (user,)).fetchall()
    assert sum(sign[e["type"]] * e["amount"] for e in entries) == sum(g.remaining for g in model.grants.values())


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=sequences)
def test_random_operation_sequences_agree_with_the_model(db: Database, ops: list[tuple[object, ...]]) -> None:
    user = make_account(db)  # a fresh account per example; the database is shared by the examples
    model = Model()
    for step, op in enumerate(ops):
        with db.transaction() as conn:
            STEPS[str(op[0])](conn, model, user, op, step)
        with db.transaction() as conn:
            _check(conn, model, user)
