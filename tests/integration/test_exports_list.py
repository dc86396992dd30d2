"""Exports while deletion is pending (the right of access outlives the wish to be deleted) and
`GET /v1/me/exports`: the caller's exports, newest first, paged like every list."""

from __future__ import annotations

import io
import zipfile

from fastapi.testclient import TestClient

from tests.support.people import onboard, person


def test_an_account_awaiting_deletion_can_still_request_list_and_download_exports(client: TestClient) -> None:
    who = person()
    onboard(client, who)
    assert client.delete("/v1/me", headers=who.headers).status_code == 202
    assert client.get("/v1/credits", headers=who.headers).json()["error"]["code"] == "account_locked"

    requested = client.post("/v1/me/exports", headers=who.headers)
    assert requested.status_code == 202, requested.text
    export_id = requested.json()["id"]
    listed = client.get("/v1/me/exports", headers=who.headers)
    assert listed.status_code == 200, listed.text
    assert [item["id"] for item in listed.json()["items"]] == [export_id]
    one = client.get(f"/v1/me/exports/{export_id}", headers=who.headers)
    assert one.status_code == 200, one.text
    assert one.json()["status"] == "ready"  # built right after the request (ATELIER_EXPORT_INLINE, local default)
    archive = client.get(one.json()["url"])
    assert archive.status_code == 200
    assert "manifest.json" in zipfile.ZipFile(io.BytesIO(archive.content)).namelist()
    # the lock still holds for everything else, and cancelling the deletion still works
    assert client.post("/v1/uploads", headers=who.headers).json()["error"]["code"] == "account_locked"
    assert client.post("/v1/me/deletion/cancel", headers=who.headers).status_code == 200


def test_exports_are_listed_newest_first_a_page_at_a_time_and_only_to_their_owner(client: TestClient) -> None:
    who, other = person(), person()
    made = []
    for _ in range(3):  # each is built inline before the next is asked for (one open export at a time)
        response = client.post("/v1/me/exports", headers=who.headers)
        assert response.status_code == 202, response.text
        made.append(response.json()["id"])
    first = client.get("/v1/me/exports", headers=who.headers, params={"limit": 2}).json()
    assert [item["id"] for item in first["items"]] == made[::-1][:2]
    assert all(item["status"] == "ready" and item["url"] for item in first["items"])
    assert first["next_cursor"]
    second = client.get("/v1/me/exports", headers=who.headers, params={"limit": 2, "cursor": first["next_cursor"]})
    assert second.status_code == 200
    assert [item["id"] for item in second.json()["items"]] == made[:1]
    assert second.json()["next_cursor"] is None
    assert client.get("/v1/me/exports", headers=other.headers).json() == {"items": [], "next_cursor": None}
    bad = client.get("/v1/me/exports", headers=who.headers, params={"cursor": "not-a-cursor"})
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid_cursor"
