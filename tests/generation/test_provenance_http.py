"""Provenance end to end: real tiny pipelines render, the real worker marks and stores, and c2pa's Reader reads
the marks back from the bytes a user receives (signed link, download, gallery image, export archive), on the
local folder and on Supabase Storage (its loopback stand-in). Thumbnails are marked too, as renditions of their
output (signed thumbnail link, gallery thumbnail, the archive's thumbnail copies). Uploads stay stripped of every
mark.
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import c2pa
import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

import deploy
from config.settings import Settings
from functions.api.app import create_app
from functions.generation.engine import Engine
from functions.generation.worker import JobRunner
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.media.storage import Storage, SupabaseStorage, build_storage
from shared.media.thumbnails import THUMBNAIL_SIDE
from shared.moderation import TermListModerator
from shared.privacy import exports
from shared.provenance.signing import SigningCredentialError
from shared.provenance.verify import content_type_of, verify, xmp_digital_source_type
from shared.provenance.xmp import COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, TRAINED_ALGORITHMIC_MEDIA
from tests.generation.conftest import png
from tests.support.fake_storage_api import BUCKET, SECRET_KEY, fake_storage_api
from tests.support.people import Person, onboard, person
from tests.support.production import MAIL_SETTINGS
from tests.support.tokens import HS256_SECRET

EXPECTED = {
    "text_to_image": ("c2pa.created", TRAINED_ALGORITHMIC_MEDIA, 0),
    "edit": ("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, 1),
    "inpaint": ("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, 1),
    "upscale": ("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA, 1),
}


@dataclass
class Studio:
    client: TestClient
    storage: Storage
    runner: JobRunner

    def fetch(self, url: str) -> bytes:
        if url.startswith("http://testserver/"):
            response = self.client.get(url)
            assert response.status_code == 200, response.text
            return response.content
        remote = httpx.get(url)
        assert remote.status_code == 200
        return remote.content


@pytest.fixture(params=["local", "supabase"])
def studio(request: pytest.FixtureRequest, tmp_path: Path, db: Database, engine: Engine) -> Iterator[Studio]:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, export_inline=False)

    def make(storage: Storage) -> Iterator[Studio]:
        runner = JobRunner(
            db=db, storage=storage, engine=engine, settings=settings, moderator=TermListModerator(), poll_seconds=0
        )
        app = create_app(settings, db, storage, dispatcher=QueueOnly())
        with TestClient(app) as client:
            yield Studio(client, storage, runner)

    if request.param == "local":
        yield from make(build_storage(settings))
        return
    with fake_storage_api() as api:
        remote = SupabaseStorage(api.url, SECRET_KEY, BUCKET, signed_url_seconds=600)
        try:
            yield from make(remote)
        finally:
            remote.close()


def _upload(studio: Studio, who: Person, data: bytes, purpose: str = "image") -> str:
    response = studio.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", data, "image/png")}, data={"purpose": purpose}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _mask() -> bytes:
    from PIL import Image

    image = Image.new("L", (64, 48), 0)
    image.paste(255, (16, 12, 48, 36))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _body(studio: Studio, who: Person, task: str) -> dict[str, Any]:
    if task == "text_to_image":
        return {"task": task, "prompt": "a secret lighthouse", "aspect_ratio": "1:1", "seed": 7}
    image = _upload(studio, who, png(64, 48))
    if task == "edit":
        return {"task": task, "prompt": "a secret winter", "image": image, "seed": 3}
    if task == "inpaint":
        mask = _upload(studio, who, _mask(), purpose="mask")
        return {"task": task, "prompt": "a secret door", "image": image, "mask": mask, "seed": 3}
    return {"task": task, "image": image, "target_long_side": 128}


def _run(studio: Studio, who: Person, body: dict[str, Any]) -> dict[str, Any]:
    accepted = studio.client.post("/v1/jobs", json=body, headers=who.headers)
    assert accepted.status_code == 202, accepted.text
    studio.runner.run(uuid.UUID(accepted.json()["id"]))
    job: dict[str, Any] = studio.client.get(f"/v1/jobs/{accepted.json()['id']}", headers=who.headers).json()
    assert job["status"] == "succeeded", job
    return job


def _assert_marked(data: bytes, task: str, who: Person, prompt: str | None) -> None:
    action, source_type, ingredients = EXPECTED[task]
    result = verify(data)
    assert result.present, task
    assert result.valid, result.failures
    assert [a["action"] for a in result.actions][-1] == action
    assert result.digital_source_types == (source_type,)
    assert result.ingredients == ingredients
    assert xmp_digital_source_type(data) == source_type
    manifest = json.dumps(result.manifest)
    for personal in (str(who.id), who.id.hex, who.email, "secret"):
        assert personal not in manifest
    if prompt:
        assert prompt not in manifest


def _report(data: bytes) -> dict[str, Any]:
    content_type = content_type_of(data)
    assert content_type is not None
    with c2pa.Reader(content_type, io.BytesIO(data)) as reader:
        report: dict[str, Any] = json.loads(reader.json())
    return report


def _assert_thumbnail_marked(thumb: bytes, full: bytes, task: str, who: Person, prompt: str | None) -> None:
    """A thumbnail is a signed rendition of its output: `c2pa.resized` with the output as its parent ingredient
    (whose own manifest it carries), the same digital source type in XMP and in the manifest, nothing personal."""
    action, source_type, _ = EXPECTED[task]
    with Image.open(io.BytesIO(thumb)) as image:
        assert image.format == "WEBP"
        assert max(image.size) <= THUMBNAIL_SIDE
    result = verify(thumb)
    assert result.present, task
    assert result.valid, result.failures
    assert [a["action"] for a in result.actions] == ["c2pa.opened", "c2pa.resized"]
    assert result.digital_source_types == (source_type,)
    assert xmp_digital_source_type(thumb) == source_type
    report = _report(thumb)
    [ingredient] = report["manifests"][report["active_manifest"]]["ingredients"]
    assert ingredient["relationship"] == "parentOf"
    assert ingredient["active_manifest"] == _report(full)["active_manifest"]  # this output, not another one
    parent = report["manifests"][ingredient["active_manifest"]]
    parent_actions = [
        a for s in parent["assertions"] if s["label"].startswith("c2pa.actions") for a in s["data"]["actions"]
    ]
    assert parent_actions[-1]["action"] == action
    assert parent_actions[-1]["digitalSourceType"] == source_type
    everything = json.dumps(report)
    for personal in (str(who.id), who.id.hex, who.email, "secret"):
        assert personal not in everything
    if prompt:
        assert prompt not in everything


@pytest.mark.parametrize("task", sorted(EXPECTED))
def test_each_output_carries_its_marks_through_every_path_a_user_gets_it(studio: Studio, task: str) -> None:
    who = person()
    onboard(studio.client, who)
    body = _body(studio, who, task)
    job = _run(studio, who, body)
    (output,) = job["outputs"]

    full = studio.fetch(output["url"])
    _assert_marked(full, task, who, body.get("prompt"))  # the signed link
    _assert_thumbnail_marked(studio.fetch(output["thumbnail_url"]), full, task, who, body.get("prompt"))
    download = studio.client.get(f"/v1/media/{output['id']}/download", headers=who.headers)
    assert download.status_code == 200
    _assert_marked(download.content, task, who, body.get("prompt"))
    assert len(download.content) == int(download.headers["content-length"])

    item = studio.client.get(f"/v1/media/{output['id']}", headers=who.headers).json()
    assert item["c2pa_manifest"] is True
    assert item["digital_source_type"] == EXPECTED[task][1]
    _assert_thumbnail_marked(studio.fetch(item["thumbnail_url"]), full, task, who, body.get("prompt"))

    published = studio.client.patch(f"/v1/media/{output['id']}", json={"public": True}, headers=who.headers)
    assert published.status_code == 200, published.text
    gallery = studio.client.get(f"/v1/gallery/{output['id']}/image")
    assert gallery.status_code == 200
    _assert_marked(gallery.content, task, who, body.get("prompt"))
    gallery_thumbnail = studio.client.get(f"/v1/gallery/{output['id']}/thumbnail")
    assert gallery_thumbnail.status_code == 200
    _assert_thumbnail_marked(gallery_thumbnail.content, full, task, who, body.get("prompt"))


def test_the_export_archive_holds_the_marked_bytes_and_uploads_stay_unmarked(studio: Studio) -> None:
    who = person()
    onboard(studio.client, who)
    (output,) = _run(studio, who, _body(studio, who, "text_to_image"))["outputs"]
    marked = studio.fetch(output["url"])

    # A marked output uploaded again is stripped like any upload: no manifest, no XMP.
    again = _upload(studio, who, marked)
    item = studio.client.get(f"/v1/media/{again}", headers=who.headers).json()
    assert (item["c2pa_manifest"], item["digital_source_type"]) == (False, None)
    stored = studio.fetch(item["url"])
    assert not verify(stored).present
    assert xmp_digital_source_type(stored) is None

    export_id = studio.client.post("/v1/me/exports", headers=who.headers).json()["id"]
    exports.build_exports(studio.runner.db, studio.storage, now=datetime.now(UTC), days=7)
    state = studio.client.get(f"/v1/me/exports/{export_id}", headers=who.headers).json()
    archive = zipfile.ZipFile(io.BytesIO(studio.fetch(state["url"])))
    files = {name: archive.read(name) for name in archive.namelist() if name.startswith("files/")}
    outputs = [data for name, data in files.items() if name.startswith(f"files/outputs/{output['id']}")]
    assert outputs == [marked]
    _assert_marked(outputs[0], "text_to_image", who, "a secret lighthouse")
    # Its thumbnail is exported too, byte for byte, and carries the marks of a rendition of that output.
    thumbnails = [data for name, data in files.items() if name.startswith(f"files/thumbnails/{output['id']}")]
    assert thumbnails == [studio.fetch(output["thumbnail_url"])]
    _assert_thumbnail_marked(thumbnails[0], marked, "text_to_image", who, "a secret lighthouse")


def test_provenance_verify_prints_the_claims_and_fails_a_tampered_file(
    studio: Studio, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    who = person()
    onboard(studio.client, who)
    (output,) = _run(studio, who, _body(studio, who, "edit"))["outputs"]
    data = studio.fetch(output["url"])
    good = tmp_path / "good.webp"
    good.write_bytes(data)
    assert deploy.main(["provenance", "verify", str(good)]) == 0
    printed = capsys.readouterr().out
    assert "c2pa.edited" in printed
    assert COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA in printed
    assert "Atelier flux-kontext-dev" in printed
    assert "signature: valid" in printed

    tampered = bytearray(data)
    tampered[len(tampered) // 2] ^= 0xFF  # a byte of the image data, after signing
    bad = tmp_path / "bad.webp"
    bad.write_bytes(bytes(tampered))
    assert deploy.main(["provenance", "verify", str(bad)]) == 1
    assert "INVALID" in capsys.readouterr().out

    plain = tmp_path / "plain.png"
    plain.write_bytes(png(8, 8))
    assert deploy.main(["provenance", "verify", str(plain)]) == 1
    assert "no C2PA manifest" in capsys.readouterr().out


def test_a_production_worker_refuses_to_start_without_a_real_signing_credential(
    tmp_path: Path, db: Database, engine: Engine
) -> None:
    settings = Settings(
        environment="production",
        database_url="postgresql://db.example/postgres",
        supabase_url="https://proj.supabase.co",
        supabase_secret_key="sb_secret_real_value",
        data_dir=tmp_path,
        **MAIL_SETTINGS,  # production also needs a real email sender and its public URL (issue 19)
    )
    with pytest.raises(SigningCredentialError, match="ATELIER_C2PA_CERT"):
        JobRunner(
            db=db, storage=build_storage(Settings(data_dir=tmp_path)), engine=engine, settings=settings,
            moderator=TermListModerator(),
        )  # fmt: skip


@pytest.mark.parametrize("task", ["text_to_image", "inpaint"])
def test_qwen_image_runs_from_the_api_to_a_marked_output_charged_once(studio: Studio, task: str) -> None:
    """The commercially usable Qwen-Image, asked for by id: the tiny offline pipeline (inpaint through
    QwenImageInpaintPipeline over the same weights) renders, the output carries its marks, the hold is posted once."""
    from config.models import get_model

    who = person()
    onboard(studio.client, who)
    body = {**_body(studio, who, task), "model": "qwen-image"}
    before = studio.client.get("/v1/credits", headers=who.headers).json()["available"]
    job = _run(studio, who, body)
    assert job["model"] == "qwen-image"
    assert job["cost"] == get_model("qwen-image").credits_per_image
    assert studio.client.get("/v1/credits", headers=who.headers).json()["available"] == before - job["cost"]
    (output,) = job["outputs"]
    expected = studio.runner.engine.output_size("qwen-image", "1:1") if task == "text_to_image" else (64, 48)
    assert (output["width"], output["height"]) == expected
    full = studio.fetch(output["url"])
    _assert_marked(full, task, who, body["prompt"])
    assert "qwen-image" in json.dumps(verify(full).manifest)


@pytest.mark.parametrize("task", ["edit", "text_to_image", "inpaint"])
def test_flux2_klein_runs_from_the_api_to_a_marked_output_charged_once(studio: Studio, task: str) -> None:
    """The commercially usable FLUX.2 [klein] 4B, asked for by id: the tiny offline Flux2KleinPipeline renders (an
    edit with the reference image in the transformer's sequence; inpaint through Flux2KleinInpaintPipeline over the
    same weights), the output carries its marks, the hold is posted once."""
    from config.models import get_model

    who = person()
    onboard(studio.client, who)
    body = {**_body(studio, who, task), "model": "flux2-klein-4b"}
    before = studio.client.get("/v1/credits", headers=who.headers).json()["available"]
    job = _run(studio, who, body)
    assert job["model"] == "flux2-klein-4b"
    assert job["cost"] == get_model("flux2-klein-4b").credits_per_image
    assert studio.client.get("/v1/credits", headers=who.headers).json()["available"] == before - job["cost"]
    (output,) = job["outputs"]
    expected = studio.runner.engine.output_size("flux2-klein-4b", "1:1") if task == "text_to_image" else (64, 48)
    assert (output["width"], output["height"]) == expected
    full = studio.fetch(output["url"])
    _assert_marked(full, task, who, body["prompt"])
    assert "flux2-klein-4b" in json.dumps(verify(full).manifest)


def test_a_paid_deployment_edits_with_flux2_klein_and_refuses_kontext(
    tmp_path: Path, db: Database, engine: Engine
) -> None:
    """Without a declared FLUX.1 [dev] licence a paid deployment sells editing on FLUX.2 [klein] 4B: an edit that
    names no model runs there (the default GET /v1/models names), and one that names Kontext is refused, uncharged."""
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, export_inline=False, paid=True)
    storage = build_storage(settings)
    runner = JobRunner(
        db=db, storage=storage, engine=engine, settings=settings, moderator=TermListModerator(), poll_seconds=0
    )
    with TestClient(create_app(settings, db, storage, dispatcher=QueueOnly())) as client:
        studio = Studio(client, storage, runner)
        listed = client.get("/v1/models").json()
        assert listed["tasks"]["edit"] == {"models": ["flux2-klein-4b"], "default_model": "flux2-klein-4b"}
        who = person()
        onboard(client, who)
        before = client.get("/v1/credits", headers=who.headers).json()["available"]
        body = _body(studio, who, "edit")
        refused = client.post("/v1/jobs", json={**body, "model": "flux-kontext-dev"}, headers=who.headers)
        assert refused.status_code == 422, refused.text
        assert refused.json()["error"]["code"] == "model_not_licensed"
        assert client.get("/v1/credits", headers=who.headers).json()["available"] == before
        job = _run(studio, who, body)
        assert job["model"] == "flux2-klein-4b"
        assert client.get("/v1/credits", headers=who.headers).json()["available"] == before - job["cost"]
        (output,) = job["outputs"]
        _assert_marked(studio.fetch(output["url"]), "edit", who, body["prompt"])
