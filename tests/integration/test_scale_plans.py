"""The hot queries keep their indexes: a studio generated at 1/100 of the million-image size (bench/scale_data.py),
analysed, then every statement the hot routes and tasks really run (captured from the connections, not copied) is
planned with EXPLAIN (FORMAT JSON). A statement that reads one of the large tables sequentially, or sorts more than a
page of rows, fails the test, and each route must reach the index its main query is built for. Plans, not timings:
the figures are bench/scale.py's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg.rows import dict_row

from bench.scale import RecordingConnection, large_tables, plan_of, problems, recorded, scans, text_plan
from bench.scale_data import Filled, Shape, fill
from config.settings import Settings
from functions.api.app import create_app
from shared.access import guard
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.lifecycle import entry
from shared.media.storage import LocalStorage
from shared.privacy import erasure, exports
from shared.privacy.datamap import TABLES
from shared.retention.service import enforce_retention
from tests.support.accounts import make_account
from tests.support.tokens import HS256_SECRET, bearer, hs256

SHAPE = Shape.scaled(0.01)  # 1,000 accounts, 10,000 jobs, ~10,000 media rows, ~23,000 ledger rows

# What each captured group must reach, besides reading no large table (`large_tables`: a row per job or image)
# sequentially and sorting no more than a page. The smaller tables (accounts, grants: a thousand or two here) may be
# read whole by a plan that is right at this size and wrong at a hundred times it: their indexes are named here.
EXPECTED: dict[str, set[str]] = {
    "history page 1": {"media_history"},
    "history page 2": {"media_history"},
    "gallery page 1": {"media_gallery"},
    "gallery page 2": {"media_gallery"},
    "me": {"accounts_pkey"},
    "credits": {"credit_grant_state_spend", "credit_grant_state_user"},
    # The credit lock is taken inside `credit_reserve`, whose statements an EXPLAIN of its call does not show; the
    # key's lookup and the active count are job_admission_state's, the consent read the analytics guard's (each
    # explained on its own, below).
    "admission": {"jobs_user_active", "jobs_idempotency", "consent_events_user"},
    "export": {"media_user", "jobs_user_created", "credit_ledger_user", "credit_grant_state_user", "accounts_pkey"},
    "erasure": {"media_user", "jobs_user_created", "credit_ledger_user", "credit_grant_state_user", "accounts_pkey"},
    "retention": {"jobs_failed_inputs"},
}


class _NoAuth:
    def delete_user(self, user_id: uuid.UUID) -> bool:
        return True


@pytest.fixture
def studio(database_url: str) -> Filled:
    return fill(database_url, SHAPE)


@pytest.fixture
def recording_db(database_url: str, studio: Filled) -> Iterator[Database]:
    database = Database(database_url, min_size=1, max_size=4, connection_class=RecordingConnection).open()
    yield database
    database.close()


def _headers(user_id: uuid.UUID) -> dict[str, str]:
    return bearer(hs256(user_id=user_id, email=f"member-{user_id.hex[:12]}@example.com"))


def _capture(tmp_path: Path, db: Database, studio: Filled) -> dict[str, list[tuple[str, Any]]]:
    """The statements each hot request and task runs, in the order it ran them."""
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
    storage = LocalStorage(tmp_path / "objects")
    busiest = _headers(studio.busiest)
    captured: dict[str, list[tuple[str, Any]]] = {}

    def keep(name: str, call: Callable[[], Any]) -> Any:
        with recorded() as statements:
            result = call()
        captured[name] = statements
        return result

    with TestClient(create_app(settings, db, storage, dispatcher=QueueOnly())) as client:

        def get(path: str, headers: dict[str, str] | None = None, **params: Any) -> dict[str, Any]:
            response = client.get(path, params=params, headers=headers or {})
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        first = keep("history page 1", lambda: get("/v1/media", busiest))
        keep("history page 2", lambda: get("/v1/media", busiest, cursor=first["next_cursor"]))
        first = keep("gallery page 1", lambda: get("/v1/gallery"))
        keep("gallery page 2", lambda: get("/v1/gallery", cursor=first["next_cursor"]))
        keep("me", lambda: get("/v1/me", busiest))
        # GET /v1/me's one statement runs inside request_entry (migration 0044), where EXPLAIN of its call cannot see:
        # explained as the function runs it (tests/integration/test_request_admission.py holds the two equal).
        captured["me"] += [(entry.STATEMENT, params) for text, params in captured["me"] if "request_entry(" in text]
        keep("credits", lambda: get("/v1/credits", busiest))
        payer = next(
            user_id for user_id in studio.accounts_by_jobs if get("/v1/credits", _headers(user_id))["available"] >= 1
        )
        key = str(uuid.uuid4())
        response = keep(
            "admission",
            lambda: client.post(
                "/v1/jobs",
                json={"task": "text_to_image", "prompt": "a lighthouse at dusk"},
                headers={**_headers(payer), "Idempotency-Key": key},
            ),
        )
        assert response.status_code in (200, 201, 202), response.text
        # job_admit reads the key's earlier job and the active count through job_admission_state, inside the
        # function, where EXPLAIN of its call cannot see: that statement is explained as job_admit calls it.
        captured["admission"].append(("select * from job_admission_state(%s::uuid, %s::text)", (payer, key)))
        # So is the analytics event's consent read (analytics_record_if_consented, migration 0043): its condition is
        # the guard's for analytics (tests/integration/test_analytics_guard.py holds the two equal), explained here.
        consented = f"select {guard._CONSENTED_SQL} as allowed from accounts a where a.id = %(uid)s"
        captured["admission"].append((consented, {"uid": payer, "purpose": "analytics", "device": None}))

    now = datetime.now(UTC)
    target = studio.erasure_account
    with db.transaction() as conn:
        export, _ = exports.request_export(conn, target, now=now)
    keep("export", lambda: exports.build_exports(db, storage, now=now, days=7, ids=[export.id]))
    keep("retention", lambda: enforce_retention(db, storage, now=now))
    with db.transaction() as conn:
        erasure.request_erasure(conn, target, now=now, grace_days=0)
    processors = erasure.Processors(storage=storage, auth=_NoAuth())
    erased = keep("erasure", lambda: erasure.run_erasures(db, processors, now=now + timedelta(seconds=1)))
    assert erased == 1
    return captured


def _explainable(statement: str) -> bool:
    head = statement.lstrip().split(None, 1)[0].lower()
    return head in ("select", "with", "insert", "update", "delete")


def test_hot_statements_use_their_indexes(tmp_path: Path, recording_db: Database, studio: Filled) -> None:
    captured = _capture(tmp_path, recording_db, studio)
    failures: list[str] = []
    with psycopg.connect(recording_db.url, row_factory=dict_row) as conn:
        large = large_tables(conn)
        assert {"media", "jobs", "credit_ledger", "credit_holds"} <= large
        for name, statements in captured.items():
            assert statements, f"{name}: no statement was captured"
            used: set[str] = set()
            for statement, params in statements:
                if not _explainable(statement):
                    continue
                try:
                    plan = plan_of(conn, statement, params, analyze=False)
                except psycopg.Error:  # e.g. an insert whose row the task itself has since deleted
                    continue
                used |= {index for _kind, _table, index in scans(plan) if index}
                issues = problems(plan, large)
                if issues:
                    shown = "\n    ".join(text_plan(plan))
                    failures.append(f"{name}: {'; '.join(issues)} in {' '.join(statement.split())[:160]}\n    {shown}")
            missing = EXPECTED[name] - used
            if missing:
                failures.append(f"{name}: does not use {sorted(missing)} (uses {sorted(used)})")
    assert not failures, "\n".join(failures)


def test_references_into_media_and_jobs_are_indexed(database_url: str) -> None:
    """Deleting an image or a job (trash purge, erasure) makes each foreign key that points at it find the referring
    rows; without an index leading with the referring column that is a sequential scan per deleted row."""
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        keys = conn.execute(
            """select c.conrelid::regclass::text as tbl, a.attname as col
                 from pg_constraint c join pg_attribute a on a.attrelid = c.conrelid and a.attnum = c.conkey[1]
                where c.contype = 'f' and c.confrelid in ('media'::regclass, 'jobs'::regclass)
                  and array_length(c.conkey, 1) = 1"""
        ).fetchall()
        indexed = {
            (row["tbl"], row["col"])
            for row in conn.execute(
                """select i.indrelid::regclass::text as tbl, a.attname as col
                     from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]"""
            ).fetchall()
        }
    assert keys, "no foreign key into media or jobs found"
    missing = [f"{row['tbl']}.{row['col']}" for row in keys if (row["tbl"], row["col"]) not in indexed]
    assert not missing, f"foreign keys into media/jobs without an index: {missing}"


def test_every_data_map_owner_column_leads_an_index(database_url: str) -> None:
    """Export, erasure and the account row's cascade read each user-linked table by its data-map owner column
    (`where user_id = ...`): without an index leading with that column each is a sequential scan of the whole table,
    whose cost grows with every account's rows rather than with this one's. A partial index serves only if its
    predicate is the column's own `is not null` (which the equality implies)."""
    owners = {(item.table, item.subject_column) for item in TABLES if item.subject_column is not None}
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        indexed = {
            (row["tbl"], row["col"])
            for row in conn.execute(
                """select i.indrelid::regclass::text as tbl, a.attname as col,
                          pg_get_expr(i.indpred, i.indrelid) as predicate
                     from pg_index i join pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
                    where i.indisvalid"""
            ).fetchall()
            if row["predicate"] is None or row["predicate"] == f"({row['col']} IS NOT NULL)"
        }
    missing = sorted(f"{table}.{column}" for table, column in owners - indexed)
    assert not missing, f"data-map owner columns that lead no index: {missing}"


def test_export_and_erasure_read_no_user_table_whole(tmp_path: Path, database_url: str) -> None:
    """Every statement an account's export and erasure really run, planned with sequential scans priced out: one that
    still reads a data-map table whole has no index that can serve it (no owner index, or a condition shaped so that
    none applies, like an OR with a sub-select), and would cost every account's rows at any size."""
    database = Database(database_url, min_size=1, max_size=2, connection_class=RecordingConnection).open()
    try:
        user = make_account(database)
        storage = LocalStorage(tmp_path / "objects")
        now = datetime.now(UTC)
        with database.transaction() as conn:
            export, _ = exports.request_export(conn, user, now=now)
        with recorded() as statements:
            exports.build_exports(database, storage, now=now, days=7, ids=[export.id])
            with database.transaction() as conn:
                erasure.request_erasure(conn, user, now=now, grace_days=0)
            processors = erasure.Processors(storage=storage, auth=_NoAuth())
            assert erasure.run_erasures(database, processors, now=now + timedelta(seconds=1)) == 1
    finally:
        database.close()
    user_tables = {item.table for item in TABLES}
    failures: list[str] = []
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        conn.execute("set enable_seqscan = off")
        for statement, params in statements:
            if not _explainable(statement):
                continue
            whole = {
                table
                for kind, table, _index in scans(plan_of(conn, statement, params, analyze=False))
                if kind == "Seq Scan" and table in user_tables
            }
            if whole:
                failures.append(f"{sorted(whole)} read whole by {' '.join(statement.split())[:200]}")
    assert statements, "no statement was captured"
    assert not failures, "\n".join(failures)
