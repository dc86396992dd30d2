"""The million-image studio: hot reads, admission, export, erasure and retention on a full-size database.

    .venv/bin/python -m bench.scale [--factor 1.0] [--runs 200]
    .venv/bin/python -m bench.scale --database URL      (a database `bench.scale_data --into URL` filled; it is
                                                        changed: jobs admitted, an account exported and erased)

Fills a scratch database with `bench/scale_data.py` (100,000 accounts, 1,000,000 jobs, ~1,000,000 media rows,
~2.3 million ledger rows at factor 1), then measures in process, through the API's ASGI app (FastAPI's
TestClient, real HS256 JWTs as the tests mint them, rate limits raised so they are paid for but never refuse,
jobs queued and never rendered), `--runs` requests each, one at a time, after a warm-up:

  GET /v1/media           History page 1 and page 50 (the cursor of page 49), of the account with the most images
  GET /v1/gallery         the gallery's first and 100th page, anonymous
  GET /v1/me              the busiest account
  GET /v1/credits         the credit balance and live grants of the busiest account
  POST /v1/jobs           admission only (validation, the credit hold, the insert), rotating over busy accounts

and prints p50 / p99 in milliseconds, the SQL statements per request and the mean time per request spent waiting
on them (`db ms`: execute calls, round trips included; the rest is the app's own Python). Then, timed once each
through the product's own functions (as the tasks run them): a data export of the account with exactly 10,000
images (its 10,000 objects written to a local storage folder first; the archive built by `build_exports`), its erasure
(`run_erasures` after a zero grace period: objects, then rows), and a retention sweep (`enforce_retention`, every
sweep of shared/retention/sweeps.py over the whole database), each with the part of it spent waiting on the
database (the rest is the local storage folder: files written, read, zipped, deleted).

Last, the plan of every distinct statement those requests ran (captured from the connections, run again under
EXPLAIN ANALYZE in a transaction that is rolled back) and of the export's and the retention sweep's statements,
each flagged when it reads a large table sequentially or sorts more than a page of rows.
Target: hot reads p99 < 20 ms in process, nothing whose cost grows with the total number of rows.
Figures, not assertions.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.scale_data import Filled, Shape, fill
from bench.scratch import scratch_database, server_label
from shared.kit.db.database import Together

# Every bucket's budgets raised: the limiter runs (and is counted) but never refuses.
GENEROUS = {
    f"{bucket}.{scope}": "1000000/1"
    for bucket in ("account", "jobs", "public", "exports", "job_polls")
    for scope in ("user", "ip")
}
JOB_BODY = {"task": "text_to_image", "prompt": "a lighthouse at dusk"}
HOT_TARGET_MS = 20.0
PAGE_ROWS = 1000  # a sort of more rows than this is a sort of a table, not of a page


def _record(conn: psycopg.Connection[Any], query: Any, params: Any) -> None:
    if isinstance(query, Together):  # several statements in one query string: each is recorded (and explained)
        for statement in query.statements:
            _record(conn, statement, None)
        return
    RecordingConnection.statements += 1
    if RecordingConnection.recording is not None:
        text = query.as_string(conn) if isinstance(query, sql.Composable) else str(query)
        RecordingConnection.recording.append((text, params))


class RecordingCursor(psycopg.Cursor[Any]):
    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _record(self.connection, query, params)
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            RecordingConnection.seconds += time.perf_counter() - started


class RecordingServerCursor(psycopg.ServerCursor[Any]):
    """The export reads its rows through named (server-side) cursors: each batch fetched is waiting too."""

    def execute(self, query: Any, params: Any = None, **kwargs: Any) -> Any:
        _record(self.connection, query, params)
        started = time.perf_counter()
        try:
            return super().execute(query, params, **kwargs)
        finally:
            RecordingConnection.seconds += time.perf_counter() - started

    def __next__(self) -> Any:
        started = time.perf_counter()
        try:
            return super().__next__()
        finally:
            RecordingConnection.seconds += time.perf_counter() - started


class RecordingConnection(psycopg.Connection[Any]):
    """Counts every statement its cursors run, and records each (with its parameters) while `recording` is set."""

    recording: list[tuple[str, Any]] | None = None
    statements = 0
    seconds = 0.0  # spent waiting on the database in execute (round trip included)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cursor_factory = RecordingCursor
        self.server_cursor_factory = RecordingServerCursor


@contextmanager
def recorded() -> Iterator[list[tuple[str, Any]]]:
    statements: list[tuple[str, Any]] = []
    RecordingConnection.recording = statements
    try:
        yield statements
    finally:
        RecordingConnection.recording = None


# --- plans ---------------------------------------------------------------------------------------------------------


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def plan_of(conn: psycopg.Connection[Any], statement: str, params: Any, *, analyze: bool) -> dict[str, Any]:
    """The JSON plan of one statement as the product sent it (run, then rolled back, when `analyze`)."""
    options = "analyze, buffers, format json" if analyze else "format json"
    with conn.transaction(force_rollback=True):
        row = conn.execute(f"explain ({options}) {statement}", params).fetchone()
    assert row is not None
    value = row["QUERY PLAN"] if isinstance(row, dict) else row[0]
    found: dict[str, Any] = value[0]
    return found


def scans(plan: dict[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(node type, relation, index) of every scan in a plan, subplans and init plans included."""
    return [
        (node["Node Type"], node.get("Relation Name"), node.get("Index Name"))
        for node in _nodes(plan["Plan"])
        if "Scan" in node["Node Type"]
    ]


def large_tables(conn: psycopg.Connection[Any], min_rows: int = 5000) -> frozenset[str]:
    """The tables with a row per job or image (5,000 rows or more; at full size a hundred thousand and up), where a
    sequential read costs the whole table. A plan may rightly read a small table whole (a hash join over a thousand
    accounts) where at a hundred times the size it would not."""
    rows = conn.execute(
        "select relname from pg_class where relkind = 'r' and relnamespace = 'public'::regnamespace"
        " and reltuples >= %s",
        (min_rows,),
    ).fetchall()
    return frozenset(row["relname"] if isinstance(row, dict) else row[0] for row in rows)


def problems(plan: dict[str, Any], large: frozenset[str]) -> list[str]:
    """What makes a statement cost more as the tables grow: a sequential scan of a large table, a sort of more
    than a page of rows (estimated, or counted when the plan was analysed)."""
    found = []
    for node in _nodes(plan["Plan"]):
        kind = node["Node Type"]
        if kind == "Seq Scan" and node.get("Relation Name") in large:
            found.append(f"Seq Scan on {node['Relation Name']}")
        if kind in ("Sort", "Incremental Sort"):
            rows = node.get("Actual Rows", node.get("Plan Rows", 0)) * max(1, node.get("Actual Loops", 1))
            below = node.get("Plans", [{}])[0]
            rows = max(rows, below.get("Actual Rows", below.get("Plan Rows", 0)))
            if rows > PAGE_ROWS:
                found.append(f"Sort of {rows:,} rows")
    return found


def _explainable(statement: str) -> bool:
    return re.match(r"\s*(with|select|insert|update|delete)\b", statement, re.IGNORECASE) is not None


def _one_line(statement: str, width: int = 110) -> str:
    text = " ".join(statement.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def text_plan(plan: dict[str, Any]) -> list[str]:
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        where = node.get("Index Name") or node.get("Relation Name") or node.get("Function Name") or ""
        on = f" on {node['Relation Name']}" if node.get("Relation Name") and node.get("Index Name") else ""
        actual = ""
        if "Actual Rows" in node:
            actual = f" rows={node['Actual Rows']:g} loops={node['Actual Loops']} {node['Actual Total Time']:.2f} ms"
        lines.append(f"{'  ' * depth}-> {node['Node Type']} {where}{on}{actual}".rstrip())
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(plan["Plan"], 0)
    return lines


def print_plans(conn: psycopg.Connection[Any], groups: list[tuple[str, list[tuple[str, Any]]]]) -> int:
    """Each distinct statement once (the first time a group ran it), with its analysed plan; returns how many
    statements were flagged."""
    seen: set[str] = set()
    flagged = 0
    large = large_tables(conn)
    for name, statements in groups:
        print(f"\n== {name}")
        for statement, params in statements:
            if statement in seen or not _explainable(statement):
                continue
            seen.add(statement)
            try:
                plan = plan_of(conn, statement, params, analyze=True)
            except psycopg.Error as exc:
                print(f"  {_one_line(statement)}\n    (not explained: {type(exc).__name__})")
                continue
            issues = problems(plan, large)
            flagged += bool(issues)
            mark = f"   <-- {'; '.join(issues)}" if issues else ""
            print(f"  {_one_line(statement)}  [{plan.get('Execution Time', 0):.2f} ms]{mark}")
            for line in text_plan(plan):
                print(f"      {line}")
    return flagged


# --- timing --------------------------------------------------------------------------------------------------------


@dataclass
class Timing:
    name: str
    ms: list[float] = field(default_factory=list)
    statements: float = 0.0
    db_ms: float = 0.0  # per request, waiting on execute: the database's share of the time
    db_s: list[float] = field(default_factory=list)  # per run of a task, seconds waiting on execute
    hot: bool = True

    def pct(self, q: float) -> float:
        ordered = sorted(self.ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed(name: str, runs: int, call: Callable[[int], Any], *, hot: bool = True, warm: int = 5) -> Timing:
    for n in range(warm):
        call(n)
    result = Timing(name, hot=hot)
    before, waited = RecordingConnection.statements, RecordingConnection.seconds
    for n in range(runs):
        started = time.perf_counter()
        call(n)
        result.ms.append((time.perf_counter() - started) * 1000)
    result.statements = (RecordingConnection.statements - before) / runs
    result.db_ms = (RecordingConnection.seconds - waited) * 1000 / runs
    return result


def ok(response: Any) -> Any:
    if response.status_code >= 400:
        raise RuntimeError(f"{response.request.method} {response.request.url}: {response.status_code} {response.text}")
    return response


# --- the accounts a database holds --------------------------------------------------------------------------------


def accounts_of(url: str, shape: Shape) -> Filled:
    """The accounts the benchmark needs, found in an already filled database."""
    with psycopg.connect(url) as conn:
        busiest = conn.execute(
            "select user_id from media where deleted_at is null group by user_id order by count(*) desc limit 1"
        ).fetchone()
        exact = conn.execute(
            "select user_id from media group by user_id having count(*) = %s limit 1", (shape.erasure_images,)
        ).fetchone()
        by_jobs = conn.execute("select user_id from jobs group by user_id order by count(*) desc limit 50").fetchall()
        counts = {
            table: int(conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(table))).fetchone()[0])  # type: ignore[index]
            for table in ("accounts", "media", "jobs", "credit_ledger")
        }
    if busiest is None or exact is None:
        raise SystemExit(f"no account with exactly {shape.erasure_images} images: was this database filled?")
    return Filled(shape, datetime.now(UTC), counts, busiest[0], exact[0], accounts_by_jobs=[r[0] for r in by_jobs])


# --- the run -------------------------------------------------------------------------------------------------------


class _NoAuth:
    def delete_user(self, user_id: uuid.UUID) -> bool:
        return True


@dataclass
class _Run:
    """What one measurement needs: the app's database and storage, and what it collects."""

    db: Any
    storage: Any
    filled: Filled
    runs: int
    results: list[Timing] = field(default_factory=list)
    captured: list[tuple[str, list[tuple[str, Any]]]] = field(default_factory=list)


def _person(user_id: uuid.UUID) -> dict[str, str]:
    from tests.support.tokens import bearer, hs256

    return bearer(hs256(user_id=user_id, email=f"member-{user_id.hex[:12]}@example.com"))


def _hot_reads(run: _Run, settings: Any) -> None:
    """The hot routes through the ASGI app, one request at a time."""
    from fastapi.testclient import TestClient

    from functions.api.app import create_app
    from shared.jobs.dispatcher import QueueOnly

    busiest = _person(run.filled.busiest)
    with TestClient(create_app(settings, run.db, run.storage, dispatcher=QueueOnly())) as client:

        def get(path: str, headers: dict[str, str] | None = None, **params: Any) -> Any:
            return ok(client.get(path, params=params, headers=headers or {}))

        def walk(path: str, pages: int, headers: dict[str, str] | None = None) -> tuple[str | None, int]:
            """The cursor of page `pages` (or of the last page, on a smaller set) and that page's number."""
            cursor, page = None, 1
            while page < pages:
                following = get(path, headers, **({"cursor": cursor} if cursor else {})).json()["next_cursor"]
                if following is None:
                    break
                cursor, page = following, page + 1
            return cursor, page

        history_cursor, history_page = walk("/v1/media", 50, busiest)
        gallery_cursor, gallery_page = walk("/v1/gallery", 100)
        with run.db.transaction() as conn:  # accounts able to pay for their share of 1-credit jobs, busiest first
            payers = [
                row["user_id"]
                for row in conn.execute(
                    """select user_id from credit_grant_state where user_id = any(%s) and remaining > 0
                        group by user_id having sum(remaining) >= %s""",
                    (run.filled.accounts_by_jobs[:50], run.runs // 10 + 10),
                ).fetchall()
            ][:20]
        members = [_person(user_id) for user_id in payers]
        reads: list[tuple[str, Callable[[int], Any]]] = [
            ("GET /v1/media page 1", lambda n: get("/v1/media", busiest)),
            (f"GET /v1/media page {history_page}", lambda n: get("/v1/media", busiest, cursor=history_cursor)),
            ("GET /v1/gallery page 1", lambda n: get("/v1/gallery")),
            (f"GET /v1/gallery page {gallery_page}", lambda n: get("/v1/gallery", cursor=gallery_cursor)),
            ("GET /v1/me", lambda n: get("/v1/me", busiest)),
            ("GET /v1/credits", lambda n: get("/v1/credits", busiest)),
            (
                "POST /v1/jobs (admission)",
                lambda n: ok(client.post("/v1/jobs", json=JOB_BODY, headers=members[n % len(members)])),
            ),
        ]
        for name, call in reads:
            run.results.append(timed(name, run.runs, call))
            with recorded() as statements:
                call(0)
            run.captured.append((name, statements))


def _export(run: _Run) -> None:
    """Three data exports of the account with exactly `erasure_images` images, its objects written first."""
    from shared.privacy import exports
    from tests.support.images import plain

    target = run.filled.erasure_account
    with run.db.transaction() as conn:
        keys = conn.execute("select storage_key, thumbnail_key from media where user_id = %s", (target,)).fetchall()
    data = plain("PNG", (8, 8), (10, 120, 200))
    for row in keys:
        for key in (row["storage_key"], row["thumbnail_key"]):
            if key:
                run.storage.put(key, data, "image/png")
    timing = Timing(f"data export ({len(keys):,} images)", hot=False)
    for attempt in range(3):
        now = datetime.now(UTC)
        with run.db.transaction() as conn:
            export, _created = exports.request_export(conn, target, now=now)
        started, waited = time.perf_counter(), RecordingConnection.seconds
        with recorded() as statements:
            built = exports.build_exports(run.db, run.storage, now=now, days=7, ids=[export.id])
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.db_s.append(RecordingConnection.seconds - waited)
        if built != 1:
            raise RuntimeError("the export was not built")
        if attempt == 0:
            run.captured.append(("data export", statements))
    run.results.append(timing)


def _erase(run: _Run) -> None:
    """The same account's erasure once its grace period is over: objects, then rows."""
    from shared.privacy import erasure

    now = datetime.now(UTC)
    with run.db.transaction() as conn:
        erasure.request_erasure(conn, run.filled.erasure_account, now=now, grace_days=0)
    processors = erasure.Processors(storage=run.storage, auth=_NoAuth())
    started, waited = time.perf_counter(), RecordingConnection.seconds
    with recorded() as statements:
        erased = erasure.run_erasures(run.db, processors, now=now + timedelta(seconds=1))
    images = run.filled.shape.erasure_images
    timing = Timing(f"erasure ({images:,} images)", [(time.perf_counter() - started) * 1000], hot=False)
    timing.db_s.append(RecordingConnection.seconds - waited)
    run.results.append(timing)
    if erased != 1:
        raise RuntimeError("the account was not erased")
    run.captured.append(("erasure", statements))


def _retention(run: _Run) -> None:
    """enforce-retention over the whole database, three times (the first finds the day's due rows)."""
    from shared.retention.service import enforce_retention

    timing = Timing("retention sweep (enforce-retention)", hot=False)
    for attempt in range(3):
        started, waited = time.perf_counter(), RecordingConnection.seconds
        with recorded() as statements:
            enforce_retention(run.db, run.storage, now=datetime.now(UTC))
        timing.ms.append((time.perf_counter() - started) * 1000)
        timing.db_s.append(RecordingConnection.seconds - waited)
        if attempt == 0:
            run.captured.append(("retention sweep", statements))
    run.results.append(timing)


def _print_results(results: list[Timing]) -> None:
    print(f"\n{'':36} {'runs':>5} {'p50 ms':>9} {'p99 ms':>9} {'stmts':>6} {'db ms':>6}  target")
    for r in results:
        if r.hot:
            verdict = "ok" if r.pct(0.99) < HOT_TARGET_MS else f"over {HOT_TARGET_MS:g} ms"
            print(
                f"{r.name:36} {len(r.ms):>5} {r.pct(0.5):>9.2f} {r.pct(0.99):>9.2f} {r.statements:>6.1f} "
                f"{r.db_ms:>6.2f}  {verdict}"
            )
        else:
            each = ", ".join(f"{ms / 1000:.2f} ({db:.2f} database)" for ms, db in zip(r.ms, r.db_s, strict=True))
            print(f"{r.name:36} {len(r.ms):>5} {'':>9} {'':>9} {'':>6} {'':>6}  seconds: {each}")


def measure(url: str, filled: Filled, *, runs: int, data_dir: Path, skip: frozenset[str] = frozenset()) -> None:
    from config.settings import Settings
    from shared.kit.db import Database
    from shared.media.storage import LocalStorage
    from tests.support.tokens import HS256_SECRET

    settings = Settings(
        data_dir=data_dir, supabase_jwt_secret=HS256_SECRET, max_active_jobs=100, rate_limit_overrides=GENEROUS
    )
    db = Database(url, min_size=2, max_size=4, connection_class=RecordingConnection).open()
    run = _Run(db, LocalStorage(data_dir / "objects"), filled, runs)
    try:
        _hot_reads(run, settings)
        _export(run)
        if "erasure" not in skip:
            _erase(run)
        _retention(run)
    finally:
        db.close()
    _print_results(run.results)
    print("\nPlans (EXPLAIN ANALYZE of each distinct statement, rolled back):")
    with psycopg.connect(url, row_factory=dict_row) as conn:
        flagged = print_plans(conn, run.captured)
    print(f"\n{flagged} statement(s) flagged (a sequential scan of a large table, or a sort of more than a page)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factor", type=float, default=1.0, help="fraction of the full studio")
    parser.add_argument("--runs", type=int, default=200, help="timed requests per hot route")
    parser.add_argument("--database", help="measure this already filled database (it is changed) instead")
    parser.add_argument("--skip", action="append", default=[], choices=["erasure"], help="leave a measurement out")
    args = parser.parse_args()
    shape = Shape.scaled(args.factor)
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp:
        if args.database:
            print(f"Postgres: given database; {shape}")
            measure(
                args.database,
                accounts_of(args.database, shape),
                runs=args.runs,
                data_dir=Path(tmp) / "data",
                skip=frozenset(args.skip),
            )
            return 0
        with scratch_database("bench_scale", Path(tmp)) as url:
            print(f"Postgres: {server_label()}; {shape}")
            filled = fill(url, shape, log=True)
            print(f"filled in {filled.load_seconds:.0f} s (COPY) + {filled.vacuum_seconds:.0f} s (VACUUM ANALYZE):")
            print("  " + ", ".join(f"{name} {n:,}" for name, n in filled.counts.items()))
            measure(url, filled, runs=args.runs, data_dir=Path(tmp) / "data", skip=frozenset(args.skip))
    return 0


if __name__ == "__main__":
    sys.exit(main())
