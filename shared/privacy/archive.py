"""The export archive: a ZIP of everything the data map says Atelier holds about one user.

Driven by the data map, not by a list of tables: every `TableEntry` with a subject column becomes rows in
its category's JSON file, and every `StorageEntry` marked `exported` contributes its objects, byte for
byte. A table added to the map tomorrow is exported without touching this module.

Written to a file on disk, entry by entry: rows come from server-side cursors and objects are copied chunk
by chunk, so memory stays flat however many rows and images a user has.

Layout:
    README.txt                  what we hold, why, on which legal basis, who processes it, for how long, your rights
    manifest.json               schema version, account id, time, row counts per table, files per category
    data/<category>.json        {"schema_version", "category", "tables": {table: {purpose, ..., "rows": [...]}}}
    files/<kind>/<name>         every stored object under users/{id}/<kind>/ (uploads, outputs, support, ...)
"""

from __future__ import annotations

import base64
import io
import ipaddress
import json
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

from psycopg import sql

from config.retention import RULES
from config.settings import get_settings
from config.values import value
from shared.dataset import keys
from shared.dataset.holdings import versions_holding
from shared.kit.db import Database
from shared.kit.db.database import Connection
from shared.media.storage import ObjectMissing, Storage, user_prefix
from shared.privacy.datamap import RECIPIENTS, STORAGE, TABLES, Category, Recipient, StorageEntry, TableEntry

SCHEMA_VERSION = 1
CURSOR_ROWS = 500  # rows fetched per round trip from the server-side cursor


def category_file(category: Category) -> str:
    return f"data/{category.value.replace('/', '-')}.json"


def _plain(value: Any) -> Any:
    """JSON for what Postgres hands back: times as ISO 8601, ids and addresses as text, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network | ipaddress.IPv6Network):
        return str(value)
    raise TypeError(f"cannot export a {type(value).__name__}")


def _json(value: Any) -> str:
    return json.dumps(value, default=_plain, ensure_ascii=False, sort_keys=True)


@value
class DataMap:
    """The parts of the data map an archive is built from (the real map unless a test extends it)."""

    tables: Sequence[TableEntry] = TABLES
    storage: Sequence[StorageEntry] = STORAGE
    recipients: Sequence[Recipient] = RECIPIENTS

    def exportable_tables(self) -> list[TableEntry]:
        """Entries whose rows name the account directly. The others hold only a pseudonym (a salted hash) that
        cannot be tied back to the user without our key; the summary says so."""
        return [item for item in self.tables if item.subject_column is not None]


REAL_MAP = DataMap()  # the default of `write`: the data map as shared/privacy/datamap.py declares it


@dataclass
class ArchiveStats:
    rows: dict[str, int] = field(default_factory=dict)  # table → rows exported
    files: dict[str, int] = field(default_factory=dict)  # storage prefix → objects copied
    file_bytes: int = 0
    datasets: dict[str, int] = field(default_factory=dict)  # dataset version → this account's images in it


def _derived_columns(conn: Connection) -> dict[str, frozenset[str]]:
    """Each table's stored generated columns (credit_grant_state.live = remaining > 0, kept for an index): the
    database's bookkeeping, made from columns of the same row that the export carries, so left out of it."""
    found: dict[str, set[str]] = {}
    for row in conn.execute(
        """select c.relname as tbl, a.attname as col from pg_attribute a join pg_class c on c.oid = a.attrelid
            where c.relnamespace = 'public'::regnamespace and a.attgenerated <> '' and a.attnum > 0
              and not a.attisdropped"""
    ).fetchall():
        found.setdefault(row["tbl"], set()).add(row["col"])
    return {table: frozenset(columns) for table, columns in found.items()}


def _rows(
    conn: Connection, entry: TableEntry, user_id: UUID, leave_out: frozenset[str] = frozenset()
) -> Iterator[dict[str, Any]]:
    """Every row of one table for this user (and, where the map says so, rows tied to the account by a proven
    link: never rows that merely name its address), through a server-side cursor, without the `leave_out` columns."""
    assert entry.subject_column is not None  # noqa: S101 - exportable_tables() filtered these
    condition = sql.SQL("{column} = %(uid)s").format(column=sql.Identifier(entry.subject_column))
    if entry.contact_match:  # a constant of the data map, never input; the account id is a parameter
        condition = sql.SQL("({}) or ({})").format(condition, sql.SQL(entry.contact_match))
    query = sql.SQL("select * from {table} where {condition}").format(
        table=sql.Identifier(entry.table), condition=condition
    )
    with conn.cursor(name=f"export_{entry.table}") as cur:
        cur.itersize = CURSOR_ROWS
        # Sent as an untyped literal, so Postgres reads it as the column's type (uuid, or text for external ids).
        cur.execute(query, {"uid": str(user_id)})
        if not leave_out:
            yield from cur
            return
        for row in cur:
            yield {column: value for column, value in row.items() if column not in leave_out}


@dataclass
class _Writer:
    """One archive being written: the open ZIP, the map it follows, whose data, and what went in."""

    zf: zipfile.ZipFile
    data_map: DataMap
    user_id: UUID
    stats: ArchiveStats
    dataset_key: bytes = b""  # finds this account's items in the dataset link table (and only theirs)
    derived: dict[str, frozenset[str]] = field(default_factory=dict)  # table → generated columns, left out

    def tables(self, db: Database) -> None:
        """All categories from one consistent snapshot. The transaction only reads and writes to local disk;
        no remote call happens inside it."""
        with db.transaction() as conn:
            conn.execute("set transaction isolation level repeatable read, read only")
            self.derived = _derived_columns(conn)
            for category in Category:
                self.category(conn, category)
            self.stats.datasets = versions_holding(conn, key=self.dataset_key, user_id=self.user_id)

    def category(self, conn: Connection, category: Category) -> None:
        entries = [item for item in self.data_map.exportable_tables() if item.category == category]
        with (
            self.zf.open(category_file(category), "w", force_zip64=True) as raw,
            io.TextIOWrapper(raw, "utf-8") as out,
        ):
            out.write(f'{{"schema_version": {SCHEMA_VERSION}, "category": {_json(category.value)}, "tables": {{')
            for index, entry in enumerate(entries):
                about = {"purpose": entry.purpose, "legal_basis": entry.legal_basis.value, "retention": entry.retention}
                head = _json(about)[:-1]  # reopen the object to append "rows"
                out.write(f'{"," if index else ""}\n{_json(entry.table)}: {head}, "rows": [')
                count = 0
                for row in _rows(conn, entry, self.user_id, self.derived.get(entry.table, frozenset())):
                    out.write(f"{',' if count else ''}\n{_json(row)}")
                    count += 1
                out.write("]}")
                self.stats.rows[entry.table] = count
            out.write("\n}}\n")

    def files(self, storage: Storage) -> None:
        """Every object under the exported prefixes, copied chunk by chunk (images are stored, not recompressed)."""
        root = user_prefix(self.user_id)
        for entry in self.data_map.storage:
            if not entry.exported:
                continue
            copied = 0
            for key in storage.list(entry.prefix.format(user_id=self.user_id)):  # exported prefixes are per user
                try:
                    chunks = storage.open(key)
                except ObjectMissing:  # deleted between listing and reading
                    continue
                info = zipfile.ZipInfo(f"files/{key.removeprefix(root)}", date_time=(1980, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_STORED
                with self.zf.open(info, "w", force_zip64=True) as out:
                    for chunk in chunks:
                        out.write(chunk)
                        self.stats.file_bytes += len(chunk)
                copied += 1
            self.stats.files[entry.prefix] = copied


def _retention_text(name: str) -> str:
    rule = RULES.get(name)
    if rule is None:
        return {
            "relationship": "while you have an account",
            "until_deleted_then_trash": "until you delete it, then 30 days in the trash",
            "audit_log": "as long as the account's records, under a pseudonym only",
            "accounting_records": "as long as accounting law requires, under a pseudonym after erasure",
            "billing_inbox": "90 days after it arrives",
            "signup_block_24_hours": "24 hours",
            "security_log_90_days_then_ip_truncated": "90 days, then the IP address is shortened",
        }.get(name, name.replace("_", " "))
    return f"{rule.what}: {rule.then.value} {rule.keep.days} days after {rule.counted_from.value}"


def _dataset_text(versions: dict[str, int]) -> str:
    if not versions:
        return "none of your images is in a dataset version"
    held = ", ".join(f"{version}: {count} image(s)" for version, count in sorted(versions.items()))
    return f"your images in dataset versions (see manifest.json, improvement_dataset): {held}"


def summary(data_map: DataMap, user_id: UUID, generated_at: datetime, stats: ArchiveStats) -> str:
    """The human-readable part: what each file holds, and the facts a privacy notice owes the reader."""
    lines = [
        "YOUR ATELIER DATA",
        "=================",
        "",
        f"Account: {user_id}",
        f"Generated: {generated_at.isoformat(timespec='seconds')}",
        f"Format version: {SCHEMA_VERSION}",
        "",
        "This archive holds every piece of personal data Atelier keeps about your account, in a",
        "machine-readable form you can take to another service:",
        "",
        "  data/<category>.json   one file per category; each table's rows, with its purpose and legal basis",
        "  files/                 every image you uploaded, generated or attached to a support message,",
        "                         byte for byte as stored (uploads were stripped of camera metadata on arrival)",
        "  manifest.json          row and file counts, and the format version",
        "",
        "WHAT WE HOLD, WHY, ON WHICH BASIS AND FOR HOW LONG",
        "--------------------------------------------------",
    ]
    for category in Category:
        lines += ["", f"{category.value.upper()}  ({category_file(category)})"]
        for item in data_map.tables:
            if item.category != category:
                continue
            if item.subject_column is None:
                note = "not in this archive: held only under a pseudonym that cannot be tied to you without our key"
            else:
                note = f"{stats.rows.get(item.table, 0)} row(s) in this archive"
            lines += [
                f"  - {item.table}: {item.purpose}",
                f"      legal basis: {item.legal_basis.value}; kept: {_retention_text(item.retention)}",
                f"      on erasure: {item.erasure.value}; {note}",
            ]
        for store in data_map.storage:
            if store.category == category:
                if "{user_id}" not in store.prefix:  # the service-improvement dataset
                    where = _dataset_text(stats.datasets)
                elif store.exported:
                    where = f"{stats.files.get(store.prefix, 0)} file(s) in files/{store.prefix.split('/')[2]}/"
                else:
                    where = "not in this archive (it is this archive)"
                lines += [
                    f"  - stored files: {store.purpose}",
                    f"      kept: {_retention_text(store.retention)}; {where}",
                ]
    lines += ["", "WHO ELSE PROCESSES IT", "---------------------"]
    for recipient in data_map.recipients:
        lines += [f"  - {recipient.name}: {recipient.role}", f"      what: {recipient.data}"]
    lines += [
        "",
        "We do not sell your data, and nobody else receives it unless the law requires us to disclose it.",
        "",
        "YOUR RIGHTS",
        "-----------",
        "  - Access and portability: this archive (POST /v1/me/exports); its link expires after a few days,",
        "    then the archive is deleted. Ask again whenever you like.",
        "  - Rectification: correct your profile (PATCH /v1/me).",
        "  - Erasure: delete your account and its data (DELETE /v1/me); records the law requires us to keep",
        "    (orders) stay under a pseudonym only.",
        "  - Restriction: pause all optional processing (PUT /v1/me/restriction).",
        "  - Objection: switch analytics, marketing, gallery display and service improvement off",
        "    (PUT /v1/me/preferences); consent can be withdrawn at any time, as easily as it was given.",
        "  - We answer every request within one month. You may also complain to your data protection authority.",
        "",
    ]
    return "\n".join(lines)


def write_archive(
    db: Database,
    storage: Storage,
    user_id: UUID,
    path: Path,
    *,
    generated_at: datetime,
    data_map: DataMap = REAL_MAP,
    dataset_key: bytes | None = None,
) -> ArchiveStats:
    """Write the whole archive for `user_id` to `path`. Table reads happen in short read-only transactions,
    storage reads outside any transaction."""
    stats = ArchiveStats()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        key = dataset_key if dataset_key is not None else keys.dataset_key(get_settings())
        writer = _Writer(zf, data_map, user_id, stats, dataset_key=key)
        writer.tables(db)
        writer.files(storage)
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "account_id": str(user_id),
            "generated_at": generated_at.isoformat(),
            "categories": {category.value: category_file(category) for category in Category},
            "rows": stats.rows,
            "files": stats.files,
            "file_bytes": stats.file_bytes,
            # Whether any of this account's images are in a service-improvement dataset version, and how many.
            "improvement_dataset": {"versions": stats.datasets},
        }
        zf.writestr("manifest.json", json.dumps(manifest, indent=2, sort_keys=True))
        zf.writestr("README.txt", summary(data_map, user_id, generated_at, stats))
    return stats
