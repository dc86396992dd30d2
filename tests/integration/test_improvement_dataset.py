"""The service-improvement dataset keeps the promise both ways: only what may be used goes in, and a withdrawal
reaches every version. Real Postgres, real local storage, real C2PA signing, real threads."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from uuid import UUID

import c2pa
import pytest
from fastapi.testclient import TestClient
from PIL import Image, PngImagePlugin

from config.policies import shipped_text
from config.settings import Settings
from functions.api.app import create_app
from shared.accounts.models import PreferenceChange
from shared.consent import service as consent
from shared.dataset import keys, service
from shared.dataset.manifest import FIELDS, item_key, manifest_key
from shared.dataset.runs import build_now, purge_now
from shared.jobs import service as jobs
from shared.jobs.models import JobSpec
from shared.kit.db import Database
from shared.media import service as media
from shared.media.images import validate_image
from shared.media.storage import LocalStorage
from shared.moderation import ImageVerdict
from shared.privacy import erasure, rights
from shared.privacy.archive import write_archive
from shared.privacy.processors import processors_for
from shared.trust import decisions, suspension, takedown
from tests.support.accounts import make_account
from tests.support.jobs import job_row
from tests.support.loopback import Reply, loopback_server
from tests.support.people import onboard, person, rows_mentioning
from tests.support.threads import run_together

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PROMPT = "a portrait of my neighbour Ada Lovelace at 42 Elm Street"


@dataclass
class World:
    db: Database
    settings: Settings
    storage: LocalStorage
    key: bytes
    users: dict[str, UUID] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    images: dict[str, UUID] = field(default_factory=dict)  # label -> media id

    def account(self, name: str, *, consent_to: bool | None = True) -> UUID:
        email = f"{name}-person@example.com"
        user_id = make_account(self.db, email)
        self.users[name], self.emails[name] = user_id, email
        if consent_to is not None:
            with self.db.transaction() as conn:
                consent.record_account_choice(conn, user_id, {"service_improvement": consent_to})
        return user_id

    def output(self, label: str, owner: str, *, size: tuple[int, int] = (32, 18), task: str = "text_to_image") -> UUID:
        """A generated image carrying personal metadata (prompt, email, time) that the dataset must not keep."""
        info = PngImagePlugin.PngInfo()
        info.add_text("prompt", PROMPT)
        info.add_text("Author", self.emails[owner])
        info.add_text("CreationTime", "2026-11-30T11:59:58Z")
        out = io.BytesIO()
        Image.new("RGB", size, (200, 40, len(self.images) * 10 % 255)).save(out, "PNG", pnginfo=info)
        user_id = self.users[owner]
        with self.db.transaction() as conn:
            job_id = job_row(conn, user_id)
            item = media.store_output(
                conn, self.storage, user_id=user_id, job_id=job_id, data=out.getvalue(), content_type="image/png",
                width=size[0], height=size[1], task=task, model="flux-schnell", prompt=PROMPT,
            )  # fmt: skip
        self.images[label] = item.id
        return item.id

    def upload(self, label: str, owner: str) -> UUID:
        """An image the person uploaded, stored the way POST /v1/uploads stores it."""
        out = io.BytesIO()
        Image.new("RGB", (32, 18), (40, 200, len(self.images) * 10 % 255)).save(out, "PNG")
        item = media.store_upload(
            self.db, self.storage, user_id=self.users[owner], image=validate_image(out.getvalue()), kind="upload"
        )
        self.images[label] = item.id
        return item.id

    def build(self, version: str, *, settings: Settings | None = None) -> int:
        return build_now(self.db, self.storage, settings or self.settings, now=NOW, version=version)

    def purge(self) -> int:
        return purge_now(self.db, self.storage, self.settings, now=NOW)

    def refs(self, version: str) -> set[str]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                """select media_ref from improvement_dataset_items
                    where version = %s and stored and withdrawn_revision is null""",
                (version,),
            ).fetchall()
        return {row["media_ref"] for row in rows}

    def expected(self, *labels: str) -> set[str]:
        return {keys.media_ref(self.key, self.images[label]) for label in labels}

    def manifest(self, version: str) -> list[dict[str, object]]:
        return [json.loads(line) for line in self.storage.get(manifest_key(version)).decode().splitlines()]


@pytest.fixture
def world(db: Database, settings: Settings, tmp_path: Path) -> World:
    storage = LocalStorage(tmp_path / "storage")
    return World(db, settings, storage, keys.dataset_key(settings))


def _populate(world: World) -> None:
    """A person in every state, each with a generated image, and what must never go in."""
    world.account("consented")
    world.output("consented-1", "consented")
    world.output("consented-taken-down", "consented")
    world.output("consented-blocked", "consented")
    world.output("consented-edited", "consented")  # an output later used as the input of an edit
    world.upload("consented-upload", "consented")
    world.account("objected")
    world.output("objected-1", "objected")
    with world.db.transaction() as conn:
        consent.record_account_choice(conn, world.users["objected"], {"service_improvement": False})
    world.account("never-chose", consent_to=None)
    world.output("never-chose-1", "never-chose")
    for name in ("restricted", "pending-deletion", "suspended"):
        world.account(name)
        world.output(f"{name}-1", name)
    with world.db.transaction() as conn:
        rights.set_restriction(conn, world.users["restricted"], restricted=True, reason=None, now=NOW)
        erasure.request_erasure(conn, world.users["pending-deletion"], now=NOW, grace_days=7)
        suspension.suspend(conn, email=world.emails["suspended"], reason="spam")
        takedown.takedown(conn, world.images["consented-taken-down"], reason="copyright")
        decisions.record(  # what a refused publication records (the image stays private, and out of datasets)
            conn,
            user_id=world.users["consented"],
            stage="publish",
            verdict=ImageVerdict("blocked", model="classifier", category="sexual", score=0.99, threshold=0.5),
            media_id=world.images["consented-blocked"],
        )
        jobs.submit(  # an edit of the output, queued as POST /v1/jobs queues it
            conn,
            user_id=world.users["consented"],
            spec=JobSpec(task="edit", model="flux-kontext-dev", prompt="x", image_id=world.images["consented-edited"]),
            cost=0,
            idempotency_key=None,
            fingerprint="test",
            deadline=timedelta(minutes=15),
        )


def test_two_versions_hold_exactly_the_eligible_set(world: World) -> None:
    _populate(world)
    assert world.build("v1") == 1
    assert world.refs("v1") == world.expected("consented-1")
    world.account("erased-later")
    world.output("erased-later-1", "erased-later")
    world.output("consented-2", "consented")
    assert world.build("v2") == 3
    assert world.refs("v2") == world.expected("consented-1", "consented-2", "erased-later-1")
    assert world.refs("v1") == world.expected("consented-1")  # a built version is a snapshot
    assert world.build("v2") == 0  # building a version again adds nothing
    assert len(world.manifest("v2")) == 3
    with world.db.transaction() as conn:
        listed = {info.version: info.items for info in service.list_versions(conn)}
    assert listed == {"v1": 1, "v2": 3}
    with world.db.transaction() as conn:  # erased: the account and its rows are gone
        erasure.erase_rows(conn, world.users["erased-later"], now=NOW)
    assert world.purge() == 1
    assert world.refs("v2") == world.expected("consented-1", "consented-2")
    assert world.build("v3") == 2
    assert world.refs("v3") == world.expected("consented-1", "consented-2")


def test_the_default_is_a_setting_shown_in_preferences_and_the_policy(world: World) -> None:
    _populate(world)
    opt_out = world.settings.model_copy(update={"improvement_default": "opt_out"})
    assert world.build("opt-out", settings=opt_out) == 2
    assert world.refs("opt-out") == world.expected("consented-1", "never-chose-1")
    assert "(opt-in)" in shipped_text("privacy", improvement_default="opt_in")
    assert "(opt-out)" in shipped_text("privacy", improvement_default="opt_out")
    assert "{improvement_default}" not in shipped_text("privacy")


def test_switching_the_choice_off_restricting_or_deleting_reaches_every_version_in_one_purge(world: World) -> None:
    for name in ("ada", "bob", "cy", "dee"):
        world.account(name)
        world.output(f"{name}-1", name)
    world.build("v1")
    world.output("dee-2", "dee")
    world.build("v2")
    before = {version: {line["item_id"] for line in world.manifest(version)} for version in ("v1", "v2")}
    with world.db.transaction() as conn:
        rights.set_preferences(conn, world.users["ada"], PreferenceChange(service_improvement=False), now=NOW)
        rights.set_restriction(conn, world.users["bob"], restricted=True, reason=None, now=NOW)
        media.trash(conn, world.users["dee"], world.images["dee-2"], now=NOW, trash_days=30)
    assert world.purge() == 5  # ada's and bob's image in both versions, dee's second image in v2
    assert world.purge() == 0
    for version in ("v1", "v2"):
        kept = world.expected("cy-1", "dee-1")
        assert world.refs(version) == kept
        items = {line["item_id"] for line in world.manifest(version)}
        assert len(items) == 2
        for gone in before[version] - items:
            assert not world.storage.exists(item_key(version, str(gone)))
    with world.db.transaction() as conn:
        left = conn.execute("select count(*) as n from improvement_dataset_items").fetchone()
    assert left == {"n": 4}  # withdrawn rows are deleted last, once the manifests no longer list them


def test_erasure_runs_the_purge_and_leaves_no_residue(world: World, db: Database) -> None:
    world.account("ada")
    world.output("ada-1", "ada")
    world.account("bob")
    world.output("bob-1", "bob")
    world.build("v1")
    world.build("v2")
    ada = world.users["ada"]
    item_ids = {keys.item_id(world.key, version, world.images["ada-1"]) for version in ("v1", "v2")}
    with db.transaction() as conn:
        erasure.request_erasure(conn, ada, now=NOW, grace_days=0)
    with loopback_server({("DELETE", f"/auth/v1/admin/users/{ada}"): lambda _: Reply(200, {})}) as auth:
        # The Auth admin needs the service key; the dataset stays keyed by ATELIER_DATASET_KEY (the data dir's).
        settings = world.settings.model_copy(
            update={"supabase_url": auth.url, "supabase_secret_key": "k" * 40, "dataset_secret": _local_key(world)}
        )
        assert keys.dataset_key(settings) == world.key
        processors = processors_for(settings, storage=world.storage)
        assert erasure.run_erasures(db, processors, now=NOW + timedelta(minutes=1)) == 1
    with db.transaction() as conn:
        links = conn.execute(
            "select count(*) as n from improvement_dataset_items where subject_ref = %s",
            (keys.subject_ref(world.key, ada),),
        ).fetchone()
    assert links == {"n": 0}
    assert not rows_mentioning(db, [str(ada)])
    for version in ("v1", "v2"):
        listed = {str(line["item_id"]) for line in world.manifest(version)}
        assert listed == {keys.item_id(world.key, version, world.images["bob-1"])}
        assert not listed & item_ids
        assert not any(world.storage.exists(item_key(version, item)) for item in item_ids)


def _local_key(world: World) -> str:
    return world.settings.dataset_key_path.read_text().strip()


def test_manifest_and_images_carry_no_personal_data(world: World) -> None:
    world.account("ada")
    media_id = world.output("ada-1", "ada", size=(40, 30))
    world.build("v1")
    lines = world.manifest("v1")
    assert len(lines) == 1
    line = lines[0]
    assert tuple(sorted(line)) == tuple(sorted(FIELDS))
    assert line["model"] == "flux-schnell"
    assert line["task"] == "text_to_image"
    assert line["aspect_ratio"] == "4:3"
    assert line["created_month"] == datetime.now(UTC).strftime("%Y-%m")
    secrets = [
        str(world.users["ada"]),
        world.users["ada"].hex,
        str(media_id),
        media_id.hex,
        "ada-person",
        PROMPT,
        "Elm",
    ]
    body = world.storage.get(manifest_key("v1")).decode()
    assert not [needle for needle in secrets if needle in body]
    data = world.storage.get(item_key("v1", str(line["item_id"])))
    assert not [needle for needle in secrets if needle.encode() in data]
    assert b"CreationTime" not in data
    assert b"prompt" not in data
    with Image.open(io.BytesIO(data)) as image:
        text_chunks = {k: v for k, v in image.info.items() if isinstance(v, str)}
        assert set(text_chunks) <= {"XML:com.adobe.xmp"}, text_chunks
        assert image.size == (40, 30)
    report = json.loads(c2pa.Reader("image/png", io.BytesIO(data)).json())
    manifests = report["manifests"]
    assert len(manifests) == 1  # only the mark applied for the dataset, not the output's own
    (manifest,) = manifests.values()
    assert manifest["claim_generator_info"][0]["name"] == "Atelier"
    assert not manifest.get("ingredients")
    dumped = json.dumps(report)
    assert not [needle for needle in secrets if needle in dumped]


def test_the_export_and_preferences_show_only_ones_own_dataset_versions(world: World, tmp_path: Path) -> None:
    world.account("ada")
    world.output("ada-1", "ada")
    world.account("bob")
    world.output("bob-1", "bob")
    world.build("v1")
    with world.db.transaction() as conn:
        rights.set_preferences(conn, world.users["bob"], PreferenceChange(service_improvement=False), now=NOW)
    world.purge()
    world.output("ada-2", "ada")
    world.build("v2")
    for name, expected in (("ada", {"v1": 1, "v2": 2}), ("bob", {})):
        path = tmp_path / f"{name}.zip"
        write_archive(world.db, world.storage, world.users[name], path, generated_at=NOW, dataset_key=world.key)
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read("manifest.json"))
            readme = zf.read("README.txt").decode()
        assert manifest["improvement_dataset"] == {"versions": expected}
        if expected:
            assert "v2: 2 image(s)" in readme
        else:
            assert "none of your images is in a dataset version" in readme


def test_export_writes_a_version_for_a_training_job(world: World, tmp_path: Path) -> None:
    world.account("ada")
    world.output("ada-1", "ada")
    world.output("ada-2", "ada")
    world.build("v1")
    count = service.export_version(world.db, world.storage, "v1", tmp_path / "out")
    assert count == 2
    lines = (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()
    for text in lines:
        assert (tmp_path / "out" / json.loads(text)["file"]).exists()
    with pytest.raises(service.DatasetVersionNotFound):
        service.export_version(world.db, world.storage, "nope", tmp_path / "x")
    with pytest.raises(service.InvalidDatasetVersion):
        service.check_version("../users")


def test_two_builds_and_two_purges_at_once_agree(world: World) -> None:
    for name in ("ada", "bob", "cy"):
        world.account(name)
        world.output(f"{name}-1", name)
        world.output(f"{name}-2", name)
    added = run_together(lambda: world.build("v1"), lambda: world.build("v1"))
    assert sorted(added) == [0, 6]
    assert world.refs("v1") == world.expected(*(f"{n}-{i}" for n in ("ada", "bob", "cy") for i in (1, 2)))
    assert len(world.manifest("v1")) == 6
    with world.db.transaction() as conn:
        rights.set_preferences(conn, world.users["ada"], PreferenceChange(service_improvement=False), now=NOW)
    removed = run_together(world.purge, world.purge)
    assert sum(removed) == 2
    assert world.refs("v1") == world.expected("bob-1", "bob-2", "cy-1", "cy-2")
    assert len(world.manifest("v1")) == 4
    with world.db.transaction() as conn:
        left = conn.execute("select count(*) as n from improvement_dataset_items").fetchone()
    assert left == {"n": 4}


def test_preferences_show_the_default_and_the_versions_holding_ones_images(db: Database, settings: Settings) -> None:
    opt_out = settings.model_copy(update={"improvement_default": "opt_out"})
    with TestClient(create_app(opt_out, db)) as client:
        ada, bob = person(), person()
        onboard(client, ada)
        onboard(client, bob)
        world = World(db, opt_out, client.app.state.storage, keys.dataset_key(opt_out))  # type: ignore[attr-defined]
        world.users["ada"], world.emails["ada"] = ada.id, ada.email
        world.output("ada-1", "ada")
        shown = client.get("/v1/me/preferences", headers=ada.headers).json()
        assert (shown["service_improvement"], shown["service_improvement_default"]) == (True, "opt_out")
        # Changing another choice must not turn the default-on choice off by omission.
        assert client.put("/v1/me/preferences", headers=ada.headers, json={"analytics": True}).status_code == 200
        assert world.build("v1") == 1
        assert client.get("/v1/me/preferences", headers=ada.headers).json()["improvement_dataset_versions"] == ["v1"]
        assert client.get("/v1/me/preferences", headers=bob.headers).json()["improvement_dataset_versions"] == []
        off = client.put("/v1/me/preferences", headers=ada.headers, json={"service_improvement": False}).json()
        assert off["service_improvement"] is False
        world.purge()
        assert client.get("/v1/me/preferences", headers=ada.headers).json()["improvement_dataset_versions"] == []


@pytest.mark.slow
def test_deploy_dataset_build_list_export(db: Database, database_url: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    local = Settings(data_dir=data_dir)
    world = World(db, local, LocalStorage(local.storage_dir), keys.dataset_key(local))
    world.account("ada")
    world.output("ada-1", "ada")
    world.output("ada-2", "ada")

    def deploy(*args: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "DATABASE_URL": database_url, "ATELIER_DATA_DIR": str(data_dir)}
        return subprocess.run(
            [sys.executable, "deploy.py", "dataset", *args], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=120, check=False,
        )  # fmt: skip

    built = deploy("build", "--version", "2026-w48")
    assert built.returncode == 0, built.stderr
    assert "2026-w48: 2 item(s) added" in built.stdout
    listed = deploy("list")
    assert "2026-w48  2 item(s)" in listed.stdout
    out = tmp_path / "training"
    exported = deploy("export", "2026-w48", str(out))
    assert exported.returncode == 0, exported.stderr
    assert len((out / "manifest.jsonl").read_text().splitlines()) == 2
    assert len(list((out / "items").iterdir())) == 2
    missing = deploy("export", "nope", str(out))
    assert (missing.returncode, "dataset_version_not_found" in missing.stderr) == (2, True)
    assert "ada-person" not in built.stdout + built.stderr + listed.stdout + exported.stdout


def _made_from(world: World, label: str, owner: str, source: str, task: str) -> UUID:
    """An output of a `task` job whose input image is `source` (as the API creates it: the job first)."""
    user_id = world.users[owner]
    out = io.BytesIO()
    Image.new("RGB", (32, 18), (10, 120, len(world.images) * 10 % 255)).save(out, "PNG")
    with world.db.transaction() as conn:
        job_id = job_row(conn, user_id)
        conn.execute("update jobs set task = %s, image_id = %s where id = %s", (task, world.images[source], job_id))
        item = media.store_output(
            conn, world.storage, user_id=user_id, job_id=job_id, data=out.getvalue(), content_type="image/png",
            width=32, height=18, task=task, model="flux-schnell", prompt=PROMPT,
        )  # fmt: skip
    world.images[label] = item.id
    return item.id


def test_nothing_with_an_upload_in_its_lineage_enters_and_what_got_in_is_withdrawn(world: World) -> None:
    """An upscale of a selfie, an edit of it and an upscale of that edit stay out; an upscale of an image generated
    from text alone goes in. An image that got in before its lineage was known leaves at the next purge."""
    world.account("ada")
    world.upload("selfie", "ada")
    _made_from(world, "selfie-upscaled", "ada", "selfie", "upscale")
    _made_from(world, "selfie-edited", "ada", "selfie", "edit")
    _made_from(world, "selfie-edited-upscaled", "ada", "selfie-edited", "upscale")  # inherits the lineage
    world.output("from-text", "ada")
    _made_from(world, "from-text-upscaled", "ada", "from-text", "upscale")
    with world.db.transaction() as conn:
        rows = conn.execute(
            "select id, upload_lineage from media where kind = 'output' and id = any(%s)",
            ([world.images[k] for k in ("selfie-upscaled", "selfie-edited-upscaled", "from-text-upscaled")],),
        ).fetchall()
    assert {r["id"]: r["upload_lineage"] for r in rows} == {
        world.images["selfie-upscaled"]: True,
        world.images["selfie-edited-upscaled"]: True,
        world.images["from-text-upscaled"]: False,
    }
    world.build("v1")
    # from-text was the input of an upscale, so it stays out under the older rule; its upscale goes in.
    assert world.refs("v1") == world.expected("from-text-upscaled")
    # Deleting the selfie later unlinks the jobs' input (on delete set null), but the lineage stays recorded.
    with world.db.transaction() as conn:
        conn.execute("delete from media where id = %s", (world.images["selfie"],))
    world.build("v2")
    assert world.refs("v2") == world.expected("from-text-upscaled")
    # An item that entered before its lineage was recorded (what migration 0023 backfills) is withdrawn.
    with world.db.transaction() as conn:
        conn.execute("update media set upload_lineage = true where id = %s", (world.images["from-text-upscaled"],))
    assert world.purge() == 2
    assert world.refs("v1") == world.refs("v2") == set()
    assert "whose lineage includes an upload" in " ".join(shipped_text("privacy").split())
