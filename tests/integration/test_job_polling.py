"""Following a job: polling one's own job has its own rate-limit budget, and `GET /v1/jobs/{id}/events` streams
server-sent events until the job ends."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from config.settings import Settings
from functions.api.app import create_app
from shared.jobs.dispatcher import QueueOnly
from shared.kit.db import Database
from tests.support.people import Person, onboard, person
from tests.support.tokens import HS256_SECRET


def _client(tmp_path: Path, db: Database, **limits: str) -> TestClient:
    settings = Settings(data_dir=tmp_path / "data", supabase_jwt_secret=HS256_SECRET, rate_limit_overrides=limits)
    return TestClient(create_app(settings, db, dispatcher=QueueOnly()))


def _job(client: TestClient, who: Person) -> str:
    response = client.post("/v1/jobs", headers=who.headers, json={"task": "text_to_image", "prompt": "a cat"})
    assert response.status_code == 202, response.text
    job_id: str = response.json()["id"]
    return job_id


def test_polling_a_job_does_not_spend_the_account_budget(tmp_path: Path, db: Database) -> None:
    # A small account budget makes the point quickly: 20 polls, then /v1/me and checkout still answer.
    with _client(tmp_path, db, **{"account.user": "8/60", "job_polls.user": "100/60"}) as client:
        who = person()
        onboard(client, who)
        job_id = _job(client, who)
        polls = [client.get(f"/v1/jobs/{job_id}", headers=who.headers).status_code for _ in range(20)]
        assert polls == [200] * 20
        assert client.get("/v1/me", headers=who.headers).status_code == 200
        assert client.get("/v1/credits", headers=who.headers).status_code == 200


def test_polling_has_a_budget_of_its_own(tmp_path: Path, db: Database) -> None:
    with _client(tmp_path, db, **{"job_polls.user": "3/60"}) as client:
        who = person()
        onboard(client, who)
        job_id = _job(client, who)
        polls = [client.get(f"/v1/jobs/{job_id}", headers=who.headers) for _ in range(4)]
        assert [p.status_code for p in polls] == [200, 200, 200, 429]
        assert polls[-1].json()["error"]["code"] == "rate_limited"
        assert int(polls[-1].headers["retry-after"]) >= 1
        assert client.get("/v1/me", headers=who.headers).status_code == 200


def _events(lines: list[str]) -> list[dict[str, Any]]:
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]


def test_the_event_stream_follows_a_job_and_ends_with_it(tmp_path: Path, db: Database) -> None:
    with _client(tmp_path, db) as client:
        who = person()
        onboard(client, who)
        job_id = _job(client, who)
        lines: list[str] = []
        first_event = threading.Event()

        def follow() -> None:
            with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=who.headers) as response:
                assert response.status_code == 200
                assert response.headers["content-type"].startswith("text/event-stream")
                for line in response.iter_lines():
                    lines.append(line)
                    if line.startswith("data: "):
                        first_event.set()

        reader = threading.Thread(target=follow)
        reader.start()
        assert first_event.wait(30)
        assert client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers).status_code == 200
        reader.join(30)
        assert not reader.is_alive(), "the stream ended when the job did"
        events = _events(lines)
        assert [e["status"] for e in events] == ["queued", "canceled"]
        assert events[-1]["id"] == job_id
        assert "event: job" in lines
        assert "id: canceled" in lines


def test_the_event_stream_of_a_finished_job_is_one_event_and_another_users_job_is_404(
    tmp_path: Path, db: Database
) -> None:
    with _client(tmp_path, db) as client:
        who, other = person(), person()
        onboard(client, who)
        job_id = _job(client, who)
        canceled = client.post(f"/v1/jobs/{job_id}/cancel", headers=who.headers).json()
        assert (canceled["status"], canceled["cancel_requested"]) == ("canceled", True)
        with client.stream("GET", f"/v1/jobs/{job_id}/events", headers=who.headers) as response:
            events = _events(list(response.iter_lines()))
        assert [e["status"] for e in events] == ["canceled"]
        reconnect = client.get(f"/v1/jobs/{job_id}/events", headers={**who.headers, "Last-Event-ID": "canceled"})
        assert reconnect.status_code == 204  # an EventSource stops reconnecting
        refused = client.get(f"/v1/jobs/{job_id}/events", headers=other.headers)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "job_not_found"
