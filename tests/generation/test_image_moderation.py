"""The image classifier seam with the real tiny ViT (built in code, loaded with from_pretrained): outputs, uploads and
publications judged, blocked ones leaving nothing behind, and every decision recorded without the image, naming the
exact model loaded (the tiny model's identity here, the locked commit from the weights volume in production)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from config.moderation import IMAGE_CLASSIFIER, THRESHOLDS, Thresholds
from config.settings import Settings, get_settings
from functions.api.app import create_app
from functions.generation.engine import Engine
from functions.generation.weights import fill_weights
from functions.generation.worker import JobRunner
from functions.safety import modal_function
from functions.safety.classifier import TINY_VERSION, TorchImageClassifier, ensure_tiny_classifier
from functions.safety.factory import InProcessClassifier, moderator_for
from functions.safety.remote import parse_answer
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from shared.media.storage import LocalStorage, build_storage
from shared.moderation import Classification, ClassifierModerator, Moderator, verdict
from shared.trust import queue
from shared.weights import read_lock
from tests.generation.conftest import png
from tests.support.fake_hub import fake_hub
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET

FORCE_UNSAFE = {"sexual": Thresholds(flag=0.0, block=0.0, public=0.0)}
FLAG_ALL = {"sexual": Thresholds(flag=0.0, block=1.0, public=1.0)}
TINY_MODEL = f"{IMAGE_CLASSIFIER.id}@tiny-{TINY_VERSION}"  # what the tiny classifier is recorded as


@dataclass
class Studio:
    client: TestClient
    db: Database
    storage: LocalStorage
    runner: JobRunner
    settings: Settings


@pytest.fixture
def make_studio(tmp_path: Path, db: Database, engine: Engine) -> Iterator[Any]:
    clients: list[TestClient] = []

    def make(thresholds: Mapping[str, Thresholds] = THRESHOLDS, classifier: Any = None) -> Studio:
        settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET)
        storage = build_storage(settings)
        assert isinstance(storage, LocalStorage)
        moderator = ClassifierModerator(classifier or InProcessClassifier(settings), thresholds=thresholds)
        runner = JobRunner(
            db=db, storage=storage, engine=engine, settings=settings, moderator=moderator, poll_seconds=0
        )
        client = TestClient(create_app(settings, db, storage, dispatcher=QueueOnly(), moderator=moderator))
        client.__enter__()
        clients.append(client)
        return Studio(client, db, storage, runner, settings)

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def _member(studio: Studio) -> Person:
    who = person()
    onboard(studio.client, who)
    return who


def _available(studio: Studio, who: Person) -> int:
    available: int = studio.client.get("/v1/credits", headers=who.headers).json()["available"]
    return available


def _decisions(db: Database) -> list[dict[str, Any]]:
    with db.transaction() as conn:
        return list(conn.execute("select * from moderation_decisions order by created_at, id").fetchall())


def _generate(studio: Studio, who: Person) -> dict[str, Any]:
    accepted = studio.client.post("/v1/jobs", json={"task": "text_to_image", "prompt": "a fox"}, headers=who.headers)
    assert accepted.status_code == 202, accepted.text
    studio.runner.run(uuid.UUID(accepted.json()["id"]))
    job: dict[str, Any] = studio.client.get(f"/v1/jobs/{accepted.json()['id']}", headers=who.headers).json()
    return job


def test_the_tiny_classifier_is_a_real_vit_loaded_from_disk_and_allows_by_default(tmp_path: Path) -> None:
    path = ensure_tiny_classifier(tmp_path)
    assert (path / "model.safetensors").exists()
    assert ensure_tiny_classifier(tmp_path) == path  # built once
    classifier = TorchImageClassifier(path)
    scores = classifier.scores(png(64, 48))
    assert set(scores) == {"sexual"}
    assert 0.0 <= scores["sexual"] < 0.01
    assert classifier.scores(png(64, 48)) == scores  # deterministic
    assert verdict(scores, "publish", model=classifier.model_id).outcome == "allowed"


def test_the_default_moderator_classifies_in_process_locally_and_remotely_on_the_api(tmp_path: Path) -> None:
    local = moderator_for(Settings(data_dir=tmp_path))
    assert isinstance(local, ClassifierModerator)
    assert isinstance(local.classifier, InProcessClassifier)
    remote = moderator_for(Settings(data_dir=tmp_path, image_classifier="modal"))
    assert isinstance(remote, ClassifierModerator)
    assert type(remote.classifier).__name__ == "RemoteImageClassifier"
    assert not isinstance(moderator_for(Settings(data_dir=tmp_path, image_classifier="off")), ClassifierModerator)


def test_a_blocked_output_fails_the_job_returns_the_credits_and_stores_nothing(make_studio: Any) -> None:
    studio: Studio = make_studio(FORCE_UNSAFE)
    who = _member(studio)
    before = _available(studio, who)
    job = _generate(studio, who)
    assert job["status"] == "failed"
    assert job["error"]["code"] == "content_blocked"
    assert "credits were returned" in job["error"]["message"]
    assert _available(studio, who) == before
    assert studio.storage.list(f"users/{who.id}/") == []
    [decision] = _decisions(studio.db)
    assert (decision["stage"], decision["outcome"], decision["category"]) == ("output", "blocked", "sexual")
    assert decision["model"] == TINY_MODEL  # the model as loaded, not the registry's branch
    assert IMAGE_CLASSIFIER.revision not in decision["model"]
    assert decision["job_id"] == uuid.UUID(job["id"])
    assert 0.0 <= decision["score"] <= 1.0


def test_a_blocked_upload_is_422_and_nothing_is_kept(make_studio: Any) -> None:
    studio: Studio = make_studio(FORCE_UNSAFE)
    who = _member(studio)
    response = studio.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", png(32, 32), "image/png")}
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "content_blocked"
    assert studio.storage.list(f"users/{who.id}/") == []
    assert studio.client.get("/v1/media", headers=who.headers).json()["items"] == []
    [decision] = _decisions(studio.db)
    assert (decision["stage"], decision["outcome"]) == ("upload", "blocked")
    mask = studio.client.post(  # a mask is black and white geometry, not content: not classified
        "/v1/uploads", headers=who.headers, files={"file": ("m.png", png(8, 8), "image/png")}, data={"purpose": "mask"}
    )
    assert mask.status_code == 201


def test_publishing_uses_the_stricter_public_threshold(make_studio: Any, tmp_path: Path) -> None:
    score = TorchImageClassifier(ensure_tiny_classifier(tmp_path / "data" / "models" / "tiny")).scores(png(8, 8))
    assert score["sexual"] > 0
    # Private outputs pass (block = 1), the gallery refuses (public is just under this output's score).
    studio: Studio = make_studio({"sexual": Thresholds(flag=1.0, block=1.0, public=score["sexual"] / 1e6)})
    who = _member(studio)
    job = _generate(studio, who)
    assert job["status"] == "succeeded", job
    (output,) = job["outputs"]
    refused = studio.client.patch(f"/v1/media/{output['id']}", json={"public": True}, headers=who.headers)
    assert refused.status_code == 422
    assert refused.json()["error"]["code"] == "content_blocked"
    assert studio.client.get(f"/v1/gallery/{output['id']}/image").status_code == 404
    stages = [(d["stage"], d["outcome"], d["media_id"]) for d in _decisions(studio.db)]
    assert stages == [("output", "allowed", None), ("publish", "blocked", uuid.UUID(output["id"]))]


def test_flagged_images_reach_the_moderation_queue(make_studio: Any) -> None:
    studio: Studio = make_studio(FLAG_ALL)
    who = _member(studio)
    (output,) = _generate(studio, who)["outputs"]
    published = studio.client.patch(f"/v1/media/{output['id']}", json={"public": True}, headers=who.headers)
    assert published.status_code == 200, published.text
    with studio.db.transaction() as conn:
        [item] = queue.queue(conn)
    assert str(item.media_id) == output["id"]
    assert (item.flags, item.reports, item.public) == (2, 0, True)  # the output check and the publish check


class Broken:
    def classify(self, image_bytes: bytes) -> Classification:
        raise ConnectionError("classifier unreachable")


def test_a_classifier_that_fails_fails_closed(make_studio: Any) -> None:
    studio: Studio = make_studio(classifier=Broken())
    who = _member(studio)
    response = studio.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", png(16, 16), "image/png")}
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "moderation_unavailable"
    assert studio.storage.list(f"users/{who.id}/") == []
    before = _available(studio, who)
    job = _generate(studio, who)
    assert (job["status"], job["error"]["code"]) == ("failed", "moderation_unavailable")
    assert _available(studio, who) == before


def test_the_term_list_moderator_still_fits_the_seam() -> None:
    moderator: Moderator = moderator_for(Settings(image_classifier="off"))
    assert moderator.judge_image(png(4, 4), "image/png", "upload").outcome == "allowed"


@pytest.fixture
def hub_client_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """The generation tests switch the Hub client offline for the whole process; the weights test below talks only
    to the loopback stand-in, so the client may go online for it."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.mark.usefixtures("hub_client_online")
def test_decisions_record_the_commit_deploy_weights_locked_on_the_volume(make_studio: Any, tmp_path: Path) -> None:
    """`deploy.py weights` resolves the classifier's branch to a commit and locks it; an upload judged by the weights
    on that volume records `nsfw-vit@<that commit>`, never `nsfw-vit@main`."""
    assert not IMAGE_CLASSIFIER.pinned  # the registry names a branch: the lock decides the commit
    snapshot = ensure_tiny_classifier(tmp_path / "built")  # a ViT of the same architecture stands in for the weights
    files = {path.name: path.read_bytes() for path in snapshot.iterdir() if path.suffix in (".json", ".safetensors")}
    volume = tmp_path / "volume"
    with fake_hub() as hub:
        commit = hub.commit(IMAGE_CLASSIFIER.repo, IMAGE_CLASSIFIER.revision, files)
        fill_weights(volume, (IMAGE_CLASSIFIER,), endpoint=hub.url, say=lambda _: None)
    assert read_lock(volume)[IMAGE_CLASSIFIER.id].commit == commit
    settings = Settings(data_dir=tmp_path / "data", model_source="volume", weights_dir=volume)
    studio: Studio = make_studio(classifier=InProcessClassifier(settings))
    who = _member(studio)
    response = studio.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", png(32, 32), "image/png")}
    )
    assert response.status_code == 201, response.text
    job = _generate(studio, who)
    assert job["status"] == "succeeded", job
    recorded = [(d["stage"], d["model"]) for d in _decisions(studio.db)]
    assert recorded == [("upload", f"nsfw-vit@{commit}"), ("output", f"nsfw-vit@{commit}")]


def test_the_modal_classifier_names_the_model_it_loaded_and_an_answer_without_it_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATELIER_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        with pytest.warns(UserWarning, match="executing locally"):  # no volume here: the tiny model is used
            answer = modal_function.classify_image.local(png(16, 16))  # the deployed function's body, in process
    finally:
        get_settings.cache_clear()
    found = parse_answer(answer)
    assert found.model == TINY_MODEL
    assert set(found.scores) == {"sexual"}
    for incomplete in ({"scores": {"sexual": 0.1}}, {"model": "", "scores": {}}, {"model": "m"}, {"sexual": 0.1}):
        with pytest.raises(ValueError, match="classify_image answered without"):
            parse_answer(incomplete)  # an answer not naming its model is refused (and the image with it)


def _attachments(*images: bytes) -> list[tuple[str, tuple[str, bytes, str]]]:
    return [("attachments", (f"a{n}.png", data, "image/png")) for n, data in enumerate(images)]


def _tickets(studio: Studio, who: Person) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = studio.client.get("/v1/support/tickets", headers=who.headers).json()["items"]
    return items


def test_a_blocked_support_attachment_is_422_and_nothing_of_the_ticket_is_kept(make_studio: Any) -> None:
    studio: Studio = make_studio(FORCE_UNSAFE)
    who = _member(studio)
    refused = studio.client.post(
        "/v1/support/tickets",
        data={"subject": "Help", "message": "see attached"},
        files=_attachments(png(32, 32), png(16, 16)),
        headers=who.headers,
    )
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["code"] == "content_blocked"
    assert studio.storage.list(f"users/{who.id}/") == []
    assert _tickets(studio, who) == []
    recorded = [(d["stage"], d["outcome"], d["model"], d["user_id"]) for d in _decisions(studio.db)]
    assert recorded == [("upload", "blocked", TINY_MODEL, who.id)] * 2  # each attachment judged and recorded

    # A ticket without attachments has nothing to judge; a reply's attachment is judged like the first message's.
    opened = studio.client.post(
        "/v1/support/tickets", data={"subject": "Help", "message": "no picture"}, headers=who.headers
    )
    assert opened.status_code == 201, opened.text
    reply = studio.client.post(
        f"/v1/support/tickets/{opened.json()['id']}/messages",
        data={"message": "here it is"},
        files=_attachments(png(24, 24)),
        headers=who.headers,
    )
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"]["code"] == "content_blocked"
    [ticket] = _tickets(studio, who)
    assert [m["body"] for m in ticket["messages"]] == ["no picture"]
    assert studio.storage.list(f"users/{who.id}/") == []
    assert len(_decisions(studio.db)) == 3


def test_an_allowed_support_attachment_is_stored_and_its_decision_recorded(make_studio: Any) -> None:
    studio: Studio = make_studio()
    who = _member(studio)
    opened = studio.client.post(
        "/v1/support/tickets",
        data={"subject": "Help", "message": "see attached"},
        files=_attachments(png(32, 32)),
        headers=who.headers,
    )
    assert opened.status_code == 201, opened.text
    assert len(studio.storage.list(f"users/{who.id}/support/")) == 1
    [decision] = _decisions(studio.db)
    assert (decision["stage"], decision["outcome"], decision["model"]) == ("upload", "allowed", TINY_MODEL)


def test_a_support_attachment_is_refused_when_the_classifier_fails(make_studio: Any) -> None:
    studio: Studio = make_studio(classifier=Broken())
    who = _member(studio)
    response = studio.client.post(
        "/v1/support/tickets",
        data={"subject": "Help", "message": "see attached"},
        files=_attachments(png(16, 16)),
        headers=who.headers,
    )
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "moderation_unavailable"
    assert studio.storage.list(f"users/{who.id}/") == []
    assert _tickets(studio, who) == []


def _notices(studio: Studio, who: Person) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = studio.client.get("/v1/me/notifications", headers=who.headers).json()["items"]
    return items


def test_a_blocked_output_and_a_flagged_upload_state_their_reasons_and_can_be_appealed(make_studio: Any) -> None:
    """The classifier's decisions come with a statement of reasons (what, which classifier and score, when) in
    Notices, linked to the decision, and an appeal of either reaches a person who can overturn it."""
    from datetime import UTC, datetime

    from shared.support import appeals

    studio: Studio = make_studio(FORCE_UNSAFE)
    who = _member(studio)
    assert _generate(studio, who)["status"] == "failed"
    [blocked] = [n for n in _notices(studio, who) if n["kind"] == "moderation_output"]
    [decision] = _decisions(studio.db)
    assert blocked["decision_id"] == str(decision["id"])
    for part in ("What: A generated image was blocked", f"the image classifier {TINY_MODEL}", "'sexual'",
                 "When: ", "credits for it were returned", "Appeal"):  # fmt: skip
        assert part in blocked["body"], part

    flagging: Studio = make_studio(FLAG_ALL)
    uploaded = flagging.client.post(
        "/v1/uploads", headers=who.headers, files={"file": ("a.png", png(32, 32), "image/png")}
    )
    assert uploaded.status_code == 201  # flagged, not blocked: stored
    [flagged] = [n for n in _notices(flagging, who) if n["kind"] == "moderation_upload"]
    assert "flagged for a person to review" in flagged["body"]

    for notice in (blocked, flagged):
        form = {"subject": "Appeal", "message": "This is a landscape.", "decision_id": notice["decision_id"]}
        opened = studio.client.post("/v1/support/tickets", data=form, headers=who.headers)
        assert opened.status_code == 201, opened.text
        with studio.db.transaction() as conn:
            done = appeals.decide(
                conn, uuid.UUID(opened.json()["id"]), outcome="restored", note="A false positive.",
                now=datetime.now(UTC),
            )  # fmt: skip
        assert done.outcome == "restored"
    outcomes = [n for n in _notices(studio, who) if n["kind"] == "appeal_decided"]
    assert len(outcomes) == 2
    assert any("generate it again" in n["body"] for n in outcomes)
    assert all(d["overturned_at"] is not None for d in _decisions(studio.db) if d["outcome"] != "allowed")
