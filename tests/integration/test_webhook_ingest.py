"""Webhook ingest (issue 34, item 2): each payload is loaded into the class its `type` names rather than tried
against the SDK's whole union (the same payload, ~10× less work), and the API loads polar-sdk and builds its
loaders at start, before its first delivery."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from polar.v2026_10.webhooks import validate_event

from shared.billing.webhooks import EVENT_TYPES, PAYLOAD_CLASSES, verify
from shared.kit.db import Database
from tests.support import polar as fx

ROOT = Path(__file__).resolve().parents[2]


def _documents() -> list[dict[str, object]]:
    user = str(uuid.uuid4())
    order = fx.order(external_id=user, product_id="p")
    monthly = fx.order(
        external_id=user,
        product_id="m",
        billing_reason="subscription_create",
        subscription=fx.order_subscription(period_end=datetime.now(UTC) + timedelta(days=30)),
    )
    return [
        fx.event("order.paid", order),
        fx.event("order.paid", monthly),
        fx.event("order.updated", order),
        fx.event("order.refunded", order),
        fx.event("refund.created", fx.refund(order_id=order["id"], amount=100)),
        fx.event("refund.updated", fx.refund(order_id=order["id"], amount=100)),
        fx.event("subscription.canceled", fx.subscription(external_id=user)),
        fx.event("subscription.active", fx.subscription(external_id=user, status="active")),
    ]


def test_the_typed_load_gives_the_sdks_own_payload_for_every_event_we_handle() -> None:
    assert len(PAYLOAD_CLASSES) >= 40  # every member of the SDK's union, none lost
    for document in _documents():
        body = fx.encode(document)
        headers = fx.sign(body, fx.NEW_SECRET)
        ours = verify(body, headers, fx.NEW_SECRET)
        assert ours.problem is None, document["type"]
        assert ours.payload == validate_event(body, {k.lower(): v for k, v in headers.items()}, fx.NEW_SECRET)
        assert type(ours.payload) is PAYLOAD_CLASSES[str(document["type"])]


def test_unknown_and_unparseable_events_are_still_told_apart() -> None:
    unknown = fx.encode({"type": "teapot.brewed", "timestamp": "2026-01-01T00:00:00Z", "data": {}})
    assert verify(unknown, fx.sign(unknown, fx.NEW_SECRET), fx.NEW_SECRET).problem == "unknown_event_type"
    assert "order.paid" in EVENT_TYPES
    broken = fx.encode({"type": "order.paid", "timestamp": "2026-01-01T00:00:00Z", "data": {"id": 3}})
    delivery = verify(broken, fx.sign(broken, fx.NEW_SECRET), fx.NEW_SECRET)
    assert delivery.problem == "unparseable_payload"
    assert delivery.payload is None
    assert delivery.document["data"] == {"id": 3}


def test_the_api_loads_polar_sdk_at_start_not_on_the_first_delivery(tmp_path: Path, db: Database) -> None:
    # A fresh interpreter, as a starting server is: polar-sdk is not imported by the app's import.
    script = textwrap.dedent(
        f"""
        import json, sys
        from pathlib import Path
        from fastapi.testclient import TestClient
        from config.settings import Settings
        from functions.api.app import create_app
        from shared.kit.db import Database
        from shared.moderation import Classification, ClassifierModerator

        class Instant:
            def classify(self, image_bytes):
                return Classification({{"sexual": 0.0}}, "instant@1")

        settings = Settings(data_dir=Path({str(tmp_path / "data")!r}), polar_webhook_secret={fx.NEW_SECRET!r})
        db = Database({db.url!r}).open()
        app = create_app(settings, db, moderator=ClassifierModerator(Instant()), warm_up=True)
        before = "polar" in sys.modules
        with TestClient(app):
            ready = app.state.readiness.wait(120)
            after = "polar.v2026_10.webhooks" in sys.modules and "shared.billing.service" in sys.modules
        db.close()
        print(json.dumps({{"before": before, "ready": ready, "after": after, "failure": app.state.readiness.failure}}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300, check=True
    )
    found = json.loads(done.stdout.strip().splitlines()[-1])
    assert found == {"before": False, "ready": True, "after": True, "failure": None}
