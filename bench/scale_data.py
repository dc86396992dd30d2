"""The million-image studio: fill a migrated Postgres with a studio's worth of accounts, images, jobs and credits.

    .venv/bin/python -m bench.scale_data [--factor 1.0]      (a scratch database, filled, counted, dropped)

`fill(url, Shape.scaled(factor))` is what `bench/scale.py` and the plan test (tests/integration/test_scale_plans.py)
call. At factor 1: 100,000 accounts, 1,000,000 jobs, about 1,000,000 media rows and about 2.3 million ledger rows
(a hold and its post or void per priced job, plus every grant and expiry), loaded with COPY in chunks of accounts,
then VACUUM ANALYZE.

Shaped like real use: jobs per account follow a Zipf spread (the busiest account has ~80,000 jobs, the median one
a handful, many none), in time order over two years, busier lately. One account (`Filled.erasure_account`) holds
exactly `erasure_images` media rows, for the export and erasure measurements. About `gallery` outputs are public.

Every row is one the product could have written, and goes through every constraint, foreign key and trigger of the
real schema (the migrations are applied first; nothing is disabled during the load):
- an account is onboarded (the policy versions in force accepted, the age declared) before its first job;
- credits are simulated per account with the ledger's rules: the signup grant (10 credits, 30 days), a pack bought
  through Polar (a `billing_orders` row and its grant) whenever the next job would not fit, each priced job a hold
  drawn soonest-expiring first (named on the hold when one grant covers it, else `credit_hold_allocations`, as
  `credit_reserve` writes it since migration 0036), posted when it succeeded and voided when it failed or
  was canceled; expired remainders booked as the `expire-credits` task books them. So `credit_grant_state` is
  exactly what replaying the ledger gives, and the balance is what the product would show;
- media are uploads and masks (inputs of edit, inpaint, upscale and variation jobs, often reused), and one output
  per succeeded job (`media.job_id`, the job's prompt, task and model), keys under `users/{id}/...`;
  `upload_lineage` is set by the database's own trigger;
- recently deleted outputs are in the trash (purged ones are gone, as the purge task leaves them); failed jobs
  finished more than the retention period ago have their inputs cleared, as the retention sweep leaves them, so a
  sweep run now finds about a day's worth due;
- no job is left queued or running (their deadlines would pass while the benchmark runs).

Only database rows are written: no objects in storage (the benchmark writes the objects of the account it exports
and erases). Figures, not assertions.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import queue
import random
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from config.values import value

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from config.retention import RULES
from shared.kit.db import Database
from shared.policies import service as policies
from shared.provenance.xmp import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA

# The tables filled, in foreign-key order (a chunk of accounts is copied table by table in this order).
TABLES: dict[str, tuple[str, ...]] = {
    "accounts": (
        "id",
        "email",
        "display_name",
        "full_name",
        "created_at",
        "last_active_at",
        "onboarded_at",
        "age_verified_at",
        "age_check",
    ),
    "preferences": ("user_id", "gallery_display", "updated_at"),
    "policy_acceptances": ("id", "user_id", "policy_version_id", "kind", "version", "accepted_at"),
    "credit_accounts": ("user_id", "created_at"),
    "billing_orders": (
        "polar_order_id",
        "user_id",
        "customer_ref",
        "polar_product_id",
        "product_kind",
        "billing_reason",
        "status",
        "currency",
        "net_amount",
        "tax_amount",
        "total_amount",
        "credits",
        "grant_state",
        "grant_ref",
        "ordered_at",
        "recorded_at",
        "updated_at",
    ),
    "credit_grants": ("id", "user_id", "kind", "amount", "source_ref", "expires_at", "reason", "created_at"),
    "credit_grant_state": (
        "grant_id",
        "user_id",
        "amount",
        "expires_at",
        "created_at",
        "remaining",
        "spent",
        "expired",
    ),
    "media": (
        "id",
        "user_id",
        "kind",
        "job_id",
        "storage_key",
        "content_type",
        "width",
        "height",
        "bytes",
        "sha256",
        "task",
        "model",
        "prompt",
        "public",
        "published_at",
        "created_at",
        "deleted_at",
        "purge_after",
        "thumbnail_key",
        "digital_source_type",
        "c2pa_manifest",
    ),
    "jobs": (
        "id",
        "user_id",
        "task",
        "model",
        "status",
        "prompt",
        "params",
        "image_id",
        "mask_id",
        "cost",
        "hold_id",
        "idempotency_key",
        "request_sha256",
        "progress",
        "cancel_requested",
        "seed",
        "error_code",
        "error_message",
        "attempts",
        "created_at",
        "dispatched_at",
        "started_at",
        "finished_at",
        "deadline_at",
        "heartbeat_at",
    ),
    "credit_holds": (
        "id",
        "user_id",
        "ref",
        "amount",
        "status",
        "posted_amount",
        "created_at",
        "expires_at",
        "resolved_at",
        "grant_id",
    ),
    "credit_hold_allocations": ("hold_id", "seq", "grant_id", "user_id", "amount"),
    "credit_ledger": ("id", "user_id", "type", "amount", "grant_id", "hold_id", "ref", "created_at"),
}
# Outputs reference their job, and jobs their input media: inputs go in before the jobs, outputs after.
_ORDER = (
    "accounts",
    "preferences",
    "policy_acceptances",
    "credit_accounts",
    "billing_orders",
    "credit_grants",
    "credit_grant_state",
    "inputs",
    "jobs",
    "outputs",
    "credit_holds",
    "credit_hold_allocations",
    "credit_ledger",
)

# (task, model, credits, share of jobs); the prices are the registry's (config/models.py) for one 1024² image.
_TASKS: tuple[tuple[str, str, int, float], ...] = (
    ("text_to_image", "flux-schnell", 1, 0.70),
    ("text_to_image", "qwen-image", 8, 0.10),
    ("edit", "flux-kontext-dev", 4, 0.08),
    ("inpaint", "flux-fill-dev", 4, 0.04),
    ("upscale", "real-esrgan-x4", 16, 0.04),  # 1024² to 4096²: 16 megapixels at 1 credit each
    ("vary", "flux-schnell", 1, 0.04),
)
_PACKS = (  # config/products.toml
    ("00000000-0000-4000-8000-000000000101", "Starter pack", 100, 500),
    ("00000000-0000-4000-8000-000000000102", "Studio pack", 1000, 3900),
)
_SUCCEEDED, _FAILED = 0.88, 0.07  # the rest are canceled
_REUSE_UPLOAD = 0.75  # an input job edits one of the account's earlier uploads rather than a new one
_TRASHED = 0.03  # outputs of the last 60 days the owner deleted
_NO_GALLERY = 0.01  # accounts that objected to showing their published outputs
SIGNUP_CREDITS, SIGNUP_DAYS = 10, 30  # config/settings.py defaults
DEADLINE = timedelta(seconds=900)  # ATELIER_JOB_DEADLINE_SECONDS default
TRASH = timedelta(days=30)
FAILED_KEEP = RULES["failed_job_inputs"].keep

_WORDS = (
    "lighthouse",
    "harbour",
    "fox",
    "owl",
    "dragon",
    "castle",
    "forest",
    "meadow",
    "city",
    "street",
    "robot",
    "garden",
    "portrait",
    "river",
    "mountain",
    "lantern",
    "teapot",
    "violin",
    "bicycle",
    "cathedral",
    "desert",
    "glacier",
    "koi",
    "orchard",
    "library",
    "market",
    "station",
    "comet",
    "nebula",
    "sailboat",
    "tram",
    "cottage",
    "reef",
    "jellyfish",
    "tiger",
    "heron",
    "marble",
    "velvet",
    "copper",
    "neon",
    "watercolor",
    "charcoal",
    "isometric",
    "cinematic",
    "pastel",
    "baroque",
    "minimalist",
    "surreal",
    "dusk",
    "dawn",
    "rain",
    "snow",
    "fog",
    "autumn",
    "midnight",
    "sunrise",
)


@value
class Shape:
    """How much to generate. `scaled(f)` keeps the proportions of the full studio at a fraction `f` of its size."""

    accounts: int = 100_000
    jobs: int = 1_000_000
    gallery: int = 50_000  # about this many public outputs
    erasure_images: int = 10_000  # media rows of the account exported and erased, exactly
    zipf: float = 1.0  # jobs per account ~ 1 / rank^zipf
    days: int = 730  # the studio's age
    seed: int = 34
    chunk_accounts: int = 2_000  # accounts per COPY transaction (one is copied while the next is generated)

    @classmethod
    def scaled(cls, factor: float, **changes: Any) -> Shape:
        base = cls()
        return cls(
            accounts=max(20, round(base.accounts * factor)),
            jobs=max(200, round(base.jobs * factor)),
            gallery=max(20, round(base.gallery * factor)),
            erasure_images=max(20, round(base.erasure_images * factor)),
            **changes,
        )


@dataclass
class Filled:
    """What was generated: row counts per table, the accounts the benchmark needs, and the generator's clock."""

    shape: Shape
    now: datetime
    counts: dict[str, int]
    busiest: uuid.UUID  # the most images
    erasure_account: uuid.UUID  # exactly shape.erasure_images media rows
    load_seconds: float = 0.0
    vacuum_seconds: float = 0.0
    accounts_by_jobs: list[uuid.UUID] = field(default_factory=list)  # busiest first


def job_counts(shape: Shape, rng: random.Random) -> list[int]:
    """Jobs per account rank (busiest first): a Zipf spread summing exactly to `shape.jobs`."""
    weights = [1.0 / (rank**shape.zipf) for rank in range(1, shape.accounts + 1)]
    total = sum(weights)
    exact = [shape.jobs * w / total for w in weights]
    counts = [math.floor(x) for x in exact]
    short = shape.jobs - sum(counts)
    by_fraction = sorted(range(len(exact)), key=lambda i: (exact[i] - counts[i], -i), reverse=True)
    for i in by_fraction[:short]:
        counts[i] += 1
    return counts


def _pick_task(pick: float) -> tuple[str, str, int]:
    """(task, model, credits) of the job at `pick` (0..1) in the shares of `_TASKS`."""
    for task, model, cost, share in _TASKS:
        pick -= share
        if pick < 0:
            return task, model, cost
    task, model, cost, _share = _TASKS[-1]
    return task, model, cost


class _Rng(random.Random):
    def uid(self) -> uuid.UUID:
        return uuid.UUID(int=self.getrandbits(128), version=4)

    def hex64(self) -> str:
        return f"{self.getrandbits(256):064x}"

    def prompt(self) -> str:
        return " ".join(self.choices(_WORDS, k=self.randint(3, 9)))


@dataclass
class _Grant:
    id: uuid.UUID
    created_at: datetime
    expires_at: datetime | None
    amount: int
    source_ref: str
    remaining: int
    spent: int = 0
    expired: int = 0

    def spend_key(self) -> tuple[bool, datetime, datetime, uuid.UUID]:
        far = self.expires_at or self.created_at
        return (self.expires_at is None, far, self.created_at, self.id)


@dataclass
class _Rows:
    tables: dict[str, list[tuple[Any, ...]]] = field(default_factory=lambda: {name: [] for name in _ORDER})

    def add(self, table: str, row: tuple[Any, ...]) -> None:
        self.tables[table].append(row)


class _Account:
    """One account's history, simulated in time order with the product's rules."""

    def __init__(self, gen: _Generator, user_id: uuid.UUID, n_jobs: int, exact_media: int | None) -> None:
        self.gen, self.rng, self.rows = gen, gen.rng, gen.rows
        self.id, self.n_jobs, self.exact_media = user_id, n_jobs, exact_media
        self.grants: list[_Grant] = []
        self.uploads: list[tuple[uuid.UUID, datetime]] = []
        self.media = 0
        self.jobs = 0
        self.big_spender = n_jobs > 300

    # --- credits --------------------------------------------------------------------------------------------

    def _grant(
        self, kind: str, amount: int, *, at: datetime, expires: datetime | None, ref: str, reason: str | None
    ) -> None:
        grant = _Grant(self.rng.uid(), at, expires, amount, ref, amount)
        self.grants.append(grant)
        self.rows.add("credit_grants", (grant.id, self.id, kind, amount, ref, expires, reason, at))
        self.rows.add("credit_ledger", (self.rng.uid(), self.id, "grant", amount, grant.id, None, ref, at))

    def _buy(self, at: datetime) -> None:
        product, name, credits, price = _PACKS[1] if self.big_spender else _PACKS[0]
        order = f"ord_{self.rng.uid().hex}"
        ordered = at - timedelta(minutes=2)
        granted = ordered + timedelta(seconds=3)
        ref = f"polar:order:{order}"
        self.rows.add(
            "billing_orders",
            (order, self.id, self.gen.customer_ref(self.id), product, "pack", "purchase", "paid", "usd", price, 0,
             price, credits, "granted", ref, ordered, granted, granted),
        )  # fmt: skip
        self._grant("purchase", credits, at=granted, expires=None, ref=ref, reason=f"{name} (Polar order)")

    def _expire_until(self, now: datetime) -> None:
        """What `expire-credits` books: each grant's unspent remainder once it is past its expiry."""
        for g in self.grants:
            if g.expires_at is not None and g.expires_at <= now and g.remaining > 0:
                g.expired, g.remaining = g.remaining, 0
                self.rows.add(
                    "credit_ledger",
                    (self.rng.uid(), self.id, "expire", g.expired, g.id, None, g.source_ref, g.expires_at),
                )

    def _hold(self, job_id: uuid.UUID, cost: int, at: datetime) -> tuple[uuid.UUID, list[tuple[_Grant, int]]]:
        self._expire_until(at)
        live = [g for g in self.grants if g.remaining > 0 and (g.expires_at is None or g.expires_at > at)]
        if sum(g.remaining for g in live) < cost:
            self._buy(at)
            live = [g for g in self.grants if g.remaining > 0 and (g.expires_at is None or g.expires_at > at)]
        live.sort(key=_Grant.spend_key)
        hold_id, need, drawn = self.rng.uid(), cost, []
        for g in live:
            take = min(g.remaining, need)
            g.remaining -= take
            need -= take
            drawn.append((g, take))
            if need == 0:
                break
        ref = f"job:{job_id}"
        if len(drawn) > 1:  # a draw from one grant is named on the hold's row (migration 0036), as credit_reserve does
            for seq, (g, take) in enumerate(drawn):
                self.rows.add("credit_hold_allocations", (hold_id, seq, g.id, self.id, take))
        self.rows.add("credit_ledger", (self.rng.uid(), self.id, "hold", cost, None, hold_id, ref, at))
        return hold_id, drawn

    def _resolve(
        self, job_id: uuid.UUID, cost: int, hold: tuple[uuid.UUID, list[tuple[_Grant, int]]], *,
        at: datetime, resolved: datetime, posted: bool,
    ) -> None:  # fmt: skip
        hold_id, drawn = hold
        ref = f"job:{job_id}"
        for g, take in drawn:
            if posted:
                g.spent += take
            else:
                g.remaining += take
        self.rows.add(
            "credit_holds",
            (hold_id, self.id, ref, cost, "posted" if posted else "voided", cost if posted else None, at,
             at + DEADLINE + timedelta(minutes=5), resolved, drawn[0][0].id if len(drawn) == 1 else None),
        )  # fmt: skip
        kind = "post" if posted else "void"
        self.rows.add("credit_ledger", (self.rng.uid(), self.id, kind, cost, None, hold_id, ref, resolved))

    # --- media ----------------------------------------------------------------------------------------------

    def _media(self, kind: str, at: datetime, **values: Any) -> uuid.UUID:
        media_id = self.rng.uid()
        u = self.id
        if kind == "output":
            key, ctype = f"users/{u}/outputs/{media_id}.png", "image/png"
        elif kind == "mask":
            key, ctype = f"users/{u}/uploads/{media_id}.png", "image/png"
        else:
            key, ctype = f"users/{u}/uploads/{media_id}.jpg", "image/jpeg"
        thumb = None if kind == "mask" else f"users/{u}/thumbnails/{media_id}.webp"
        side = values.get("side", 1024)
        row = (
            media_id, u, kind, values.get("job_id"), key, ctype, side, side, self.rng.randint(40_000, 2_500_000),
            self.rng.hex64(), values.get("task"), values.get("model"), values.get("prompt"),
            values.get("public", False), values.get("published_at"), at, values.get("deleted_at"),
            values.get("purge_after"), thumb, values.get("source"), kind == "output",
        )  # fmt: skip
        self.rows.add("outputs" if kind == "output" else "inputs", row)
        self.media += 1
        return media_id

    def _input(self, at: datetime) -> uuid.UUID:
        if self.uploads and self.rng.random() < _REUSE_UPLOAD:
            return self.rng.choice(self.uploads)[0]
        made = at - timedelta(seconds=self.rng.uniform(5, 120))
        media_id = self._media("upload", made)
        self.uploads.append((media_id, made))
        return media_id

    # --- the account ----------------------------------------------------------------------------------------

    def generate(self, created: datetime) -> None:
        gen, rng, now = self.gen, self.rng, self.gen.now
        onboarded = created + timedelta(seconds=rng.uniform(20, 600))
        n = self.n_jobs
        times = self._times(onboarded + timedelta(minutes=1), now - timedelta(hours=1), n)
        last = times[-1] if times else onboarded
        self.rows.add(
            "accounts",
            (self.id, f"member-{self.id.hex[:12]}@example.com", None, f"Member {self.id.hex[:6]}", created,
             last + timedelta(minutes=rng.uniform(1, 30)), onboarded, onboarded, "declaration"),
        )  # fmt: skip
        if rng.random() < 2 * _NO_GALLERY:  # half of those who changed the setting turned the gallery off
            self.rows.add("preferences", (self.id, rng.random() < 0.5, onboarded + timedelta(days=rng.uniform(0, 30))))
        for kind, (version_id, version) in gen.policy_versions.items():
            self.rows.add("policy_acceptances", (rng.uid(), self.id, version_id, kind, version, onboarded))
        self.rows.add("credit_accounts", (self.id, created))
        signup_at = created + timedelta(seconds=1)
        expires = signup_at + timedelta(days=SIGNUP_DAYS)
        self._grant("signup", SIGNUP_CREDITS, at=signup_at, expires=expires, ref=f"signup:{self.id}", reason=None)
        i = 0
        while True:
            if self.exact_media is None:
                if i >= n:
                    break
                at, gap = times[i], (times[i + 1] - times[i] if i + 1 < n else timedelta(minutes=30))
            else:
                if self.media >= self.exact_media:
                    break
                if i >= len(times):  # the estimate fell short: a few more, a second apart
                    times.append(times[-1] + timedelta(seconds=1))
                at, gap = times[i], (times[i + 1] - times[i] if i + 1 < len(times) else timedelta(seconds=1))
            self._job(at, gap, exact_left=None if self.exact_media is None else self.exact_media - self.media)
            i += 1
        self.jobs = i
        self._expire_until(now)
        for g in self.grants:
            self.rows.add(
                "credit_grant_state",
                (g.id, self.id, g.amount, g.expires_at, g.created_at, g.remaining, g.spent, g.expired),
            )

    def _times(self, start: datetime, end: datetime, n: int) -> list[datetime]:
        """n job times between start and end, busier lately, strictly increasing (room for the exact account's
        extra jobs included)."""
        span = max((end - start).total_seconds(), 60.0)
        count = n if self.exact_media is None else exact_jobs_estimate(self.exact_media)
        offsets = sorted(span * (self.rng.random() ** 0.6) for _ in range(count))
        times, previous = [], start - timedelta(seconds=1)
        for offset in offsets:
            t = start + timedelta(seconds=offset)
            if t <= previous:
                t = previous + timedelta(milliseconds=2)
            times.append(t)
            previous = t
        return times

    def _job(self, at: datetime, gap: timedelta, exact_left: int | None) -> None:
        rng = self.rng
        task, model, cost = _pick_task(rng.random())
        outcome = rng.random()
        status = "succeeded" if outcome < _SUCCEEDED else "failed" if outcome < _SUCCEEDED + _FAILED else "canceled"
        if exact_left is not None and exact_left <= 3:  # land exactly: one plain image per job from here on
            task, model, cost, status = "text_to_image", "flux-schnell", 1, "succeeded"
        job_id = rng.uid()
        duration = timedelta(seconds=min(rng.uniform(4, 40), max(gap.total_seconds() / 2, 0.001)))
        finished = at + duration
        image_id = mask_id = None
        if task in ("edit", "inpaint", "upscale", "vary"):
            image_id = self._input(at)
        if task == "inpaint":
            mask_id = self._media("mask", at - timedelta(seconds=2))
        prompt = None if task == "upscale" else rng.prompt()
        hold = self._hold(job_id, cost, at)
        hold_id = hold[0]
        self._resolve(job_id, cost, hold, at=at, resolved=finished, posted=status == "succeeded")
        started = None if status == "canceled" and rng.random() < 0.5 else at + duration / 10
        params: dict[str, Any] = {"count": 1}
        if task == "upscale":
            params["target_long_side"] = 4096
        elif task != "vary":
            params.update(width=1024, height=1024)
        error = (
            ("render_failed", "The render failed; your credits were returned.") if status == "failed" else (None, None)
        )
        anonymised = status == "failed" and finished < self.gen.now - FAILED_KEEP - timedelta(days=1)
        self.rows.add(
            "jobs",
            (job_id, self.id, task, model, status, None if anonymised else prompt, json.dumps(params),
             None if anonymised else image_id, None if anonymised else mask_id, cost, hold_id, str(rng.uid()),
             rng.hex64(), 1.0 if status == "succeeded" else round(rng.random() * 0.9, 2), status == "canceled",
             None if task == "upscale" else rng.getrandbits(62), error[0], error[1], 0 if started is None else 1, at,
             at + timedelta(milliseconds=80), started, finished, at + DEADLINE, started),
        )  # fmt: skip
        if status == "succeeded":
            self._output(job_id, task, model, prompt, finished)

    def _output(self, job_id: uuid.UUID, task: str, model: str, prompt: str | None, at: datetime) -> None:
        rng, now = self.rng, self.gen.now
        values: dict[str, Any] = {
            "job_id": job_id,
            "task": task,
            "model": model,
            "prompt": prompt,
            "side": 4096 if task == "upscale" else 1024,
            "source": TRAINED_ALGORITHMIC_MEDIA
            if task == "text_to_image"
            else COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA,
        }
        if at > now - timedelta(days=60) and rng.random() < _TRASHED:
            deleted = at + (now - at) * rng.random()
            if deleted + TRASH <= now:
                return  # purged: the row went with its object
            values.update(deleted_at=deleted, purge_after=deleted + TRASH)
        elif rng.random() < self.gen.publish_share:
            values.update(
                public=True, published_at=min(at + timedelta(hours=rng.uniform(0, 72)), now - timedelta(minutes=1))
            )
        self._media("output", at, **values)


class _Generator:
    def __init__(self, shape: Shape, now: datetime, audit_key: str, policy_versions: dict[str, tuple[uuid.UUID, int]]):
        self.shape, self.now = shape, now
        self.rng = _Rng(shape.seed)
        self.rows = _Rows()
        self.audit_key = audit_key
        self.policy_versions = policy_versions
        self.publish_share = shape.gallery / (shape.jobs * _SUCCEEDED)

    def customer_ref(self, user_id: uuid.UUID) -> str:
        """What billing stores for an order's customer: the audit pseudonym of the account id."""
        return hashlib.sha256(f"{self.audit_key}:{user_id}".encode()).hexdigest()

    def take_rows(self) -> _Rows:
        rows, self.rows = self.rows, _Rows()
        return rows


def _copy(conn: psycopg.Connection[Any], table: str, rows: Iterable[Sequence[Any]]) -> None:
    target = "media" if table in ("inputs", "outputs") else table
    columns = ", ".join(TABLES[target])
    with conn.cursor() as cur, cur.copy(f"copy {target} ({columns}) from stdin") as copy:
        for row in rows:
            copy.write_row(row)


class _Loader:
    """COPYs chunks in order on its own connection and thread, so Postgres checks and indexes one chunk while Python
    generates the next (two cores: one each). An error in the copy is raised in the generating thread."""

    def __init__(self, url: str, total: dict[str, int], started: float, *, log: bool) -> None:
        self.url, self.total, self.started, self.log = url, total, started, log
        self.chunks: queue.Queue[tuple[_Rows, int] | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="scale-copy", daemon=True)

    def __enter__(self) -> _Loader:
        self.thread.start()
        return self

    def _run(self) -> None:
        try:
            with psycopg.connect(self.url) as conn:
                conn.execute("set synchronous_commit = off")
                while (chunk := self.chunks.get()) is not None:
                    rows, accounts = chunk
                    with conn.transaction():
                        for table in _ORDER:
                            _copy(conn, table, rows.tables[table])
                            self.total[table] = self.total.get(table, 0) + len(rows.tables[table])
                    if self.log:
                        print(
                            f"  {accounts:>7,} accounts, {self.total['jobs']:>9,} jobs, "
                            f"{time.perf_counter() - self.started:6.1f} s",
                            flush=True,
                        )
        except BaseException as exc:
            self.error = exc

    def put(self, rows: _Rows, accounts: int) -> None:
        while True:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError("the COPY thread stopped") from self.error
            try:
                self.chunks.put((rows, accounts), timeout=1)
                return
            except queue.Full:
                continue

    def __exit__(self, *exc: object) -> None:
        if self.thread.is_alive():
            while True:  # the end marker, unless the thread died meanwhile
                try:
                    self.chunks.put(None, timeout=1)
                    break
                except queue.Full:
                    if not self.thread.is_alive():
                        break
            self.thread.join()
        if self.error is not None and exc[0] is None:
            raise RuntimeError("the COPY thread failed") from self.error


DEFAULT_SHAPE = Shape()  # the studio the issue describes


def fill(url: str, shape: Shape = DEFAULT_SHAPE, *, now: datetime | None = None, log: bool = False) -> Filled:
    """Generate `shape` into the migrated database at `url` (which should hold no accounts yet), then VACUUM
    ANALYZE it. Deterministic for a given shape and `now`."""
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    db = Database(url, min_size=1, max_size=1).open()
    try:
        with db.transaction() as conn:
            for kind in ("privacy", "terms"):
                policies.current(conn, kind)  # version 1 of each, as the first request of a deployment inserts
            versions = {
                row["kind"]: (row["id"], row["version"])
                for row in conn.execute(
                    "select distinct on (kind) id, kind, version from policy_versions order by kind, version desc"
                ).fetchall()
            }
            key_row = conn.execute("select key from audit_pseudonym_key").fetchone()
            assert key_row is not None
    finally:
        db.close()
    gen = _Generator(shape, now, key_row["key"], versions)
    rng = gen.rng
    counts = job_counts(shape, rng)
    ids = [rng.uid() for _ in range(shape.accounts)]  # busiest first
    # The exported and erased account: the one whose share of jobs comes nearest to its image count.
    erasure_rank = min(range(len(counts)), key=lambda r: abs(counts[r] - shape.erasure_images))
    order = [rank for rank in range(shape.accounts) if rank != erasure_rank]
    rng.shuffle(order)  # accounts come in a random order of activity
    order.insert(0, erasure_rank)  # first: the busiest absorbs its difference, so the total stays exact
    erasure_jobs = 0
    started = time.perf_counter()
    total: dict[str, int] = {}
    with _Loader(url, total, started, log=log) as loader:  # copies one chunk while the next is generated
        for begin in range(0, shape.accounts, shape.chunk_accounts):
            for rank in order[begin : begin + shape.chunk_accounts]:
                exact = shape.erasure_images if rank == erasure_rank else None
                n = counts[rank]
                if rank == 0 and rank != erasure_rank:
                    n = max(1, n + counts[erasure_rank] - erasure_jobs)
                created = now - timedelta(
                    days=shape.days * (0.2 + 0.8 * rng.random()) if n else rng.uniform(1, shape.days)
                )
                account = _Account(gen, ids[rank], n, exact)
                account.generate(created)
                if rank == erasure_rank:
                    erasure_jobs = account.jobs
            loader.put(gen.take_rows(), min(begin + shape.chunk_accounts, shape.accounts))
    load = time.perf_counter() - started
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        for table in TABLES:
            conn.execute(f"vacuum analyze {table}")
    counts_out = {
        "accounts": total["accounts"],
        "media": total["inputs"] + total["outputs"],
        "jobs": total["jobs"],
        "credit_ledger": total["credit_ledger"],
        "credit_grants": total["credit_grants"],
        "credit_holds": total["credit_holds"],
        "billing_orders": total["billing_orders"],
        "policy_acceptances": total["policy_acceptances"],
    }
    with psycopg.connect(url) as conn:
        public = conn.execute("select count(*) from media where public").fetchone()
        counts_out["gallery"] = int(public[0]) if public else 0
    return Filled(
        shape=shape,
        now=now,
        counts=counts_out,
        busiest=ids[0],
        erasure_account=ids[erasure_rank],
        load_seconds=load,
        vacuum_seconds=time.perf_counter() - started,
        accounts_by_jobs=ids,
    )


def exact_jobs_estimate(images: int) -> int:
    """About how many jobs make `images` media rows (outputs of succeeded jobs, their inputs and masks)."""
    per_job = _SUCCEEDED + 0.2 * (1 - _REUSE_UPLOAD) + 0.04
    return round(images / per_job) + 10


def main() -> int:
    from bench.scratch import scratch_database, server_label
    from shared.kit.db import migrate

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--factor", type=float, default=1.0, help="fraction of the full studio (1.0: a million images)")
    parser.add_argument("--into", help="fill this (empty) database and keep it, for `bench/scale.py --database`")
    args = parser.parse_args()
    shape = Shape.scaled(args.factor)

    def run(url: str) -> None:
        print(f"{shape}", flush=True)
        filled = fill(url, shape, log=True)
        print(f"load {filled.load_seconds:.1f} s, vacuum analyze {filled.vacuum_seconds:.1f} s")
        for name, n in filled.counts.items():
            print(f"  {name:20} {n:>10,}")

    if args.into:
        migrate(args.into)
        run(args.into)
        return 0
    with tempfile.TemporaryDirectory(prefix="atelier-bench-") as tmp, scratch_database("bench_scale", Path(tmp)) as url:
        print(f"Postgres: {server_label()}")
        run(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
