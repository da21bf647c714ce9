"""Deliveries to a real receiver on loopback, on both backends: Standard Webhooks signatures,
the body, retries with one webhook-id, strict order per endpoint, give-up and disable, secret
rotation, replays, and the outbox trigger itself."""

import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from tests.webhooks.conftest import HOOKS, Desk
from tests.webhooks.receiver import Receiver


def bodies(receiver: Receiver) -> list[dict]:
    return [json.loads(item.body) for item in receiver.received]


def test_a_delivery_is_signed_and_carries_the_revision_as_the_feed_shows_it(
    desk: Desk, receiver: Receiver
) -> None:
    endpoint = desk.endpoint(receiver, ["claim.*"])
    assert endpoint["secret"].startswith("whsec_")
    speaker = desk.client.post("/api/v1/speakers", json={"name": "Nobody"})
    assert speaker.status_code == 201
    claim = desk.claim()

    desk.drain()

    assert len(receiver.received) == 1  # the speaker is not among the endpoint's events
    delivered = receiver.received[0]
    payload = Webhook(endpoint["secret"]).verify(delivered.body, delivered.headers)
    feed = desk.client.get("/api/v1/changes", params={"entity_type": "claim"}).json()["items"]
    assert payload == {
        "type": "claim.created",
        "timestamp": feed[0]["recorded_at"],
        "data": feed[0],
    }
    assert payload["data"]["entity_id"] == claim["id"]
    assert delivered.headers["webhook-id"] == f"msg_rev{feed[0]['id']}"
    assert delivered.headers["webhook-signature"].startswith("v1,")
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(delivered.body + b" ", delivered.headers)

    deliveries = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("delivered", 1)]
    assert deliveries[0]["attempt_log"][0]["response_status"] == 200
    assert deliveries[0]["next_attempt_at"] is None


def test_a_failing_receiver_sees_retries_with_the_same_id_and_later_events_wait(
    desk: Desk, receiver: Receiver
) -> None:
    receiver.answer = lambda n: 500 if n <= 2 else 204
    endpoint = desk.endpoint(receiver, ["claim.created"])
    first, second = desk.claim("First."), desk.claim("Second.")

    desk.drain()  # the first attempt fails; the second claim waits behind it
    assert len(receiver.received) == 1
    deliveries = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    head = next(d for d in deliveries if d["attempts"] == 1)
    assert head["status"] == "pending"
    assert head["next_attempt_at"] is not None
    assert head["attempt_log"][0]["outcome"] == "http_error"

    desk.drain_until(lambda: len(receiver.received) == 4)

    ids = [item.headers["webhook-id"] for item in receiver.received]
    assert ids[0] == ids[1] == ids[2] != ids[3]
    entity_ids = [body["data"]["entity_id"] for body in bodies(receiver)]
    assert entity_ids == [first["id"]] * 3 + [second["id"]]
    deliveries = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    assert sorted(d["attempts"] for d in deliveries) == [1, 3]
    assert {d["status"] for d in deliveries} == {"delivered"}
    assert desk.client.get(f"{HOOKS}/{endpoint['id']}").json()["failing_since"] is None


def test_redirects_are_not_followed(desk: Desk, receiver: Receiver) -> None:
    receiver.answer = lambda _n: 302
    endpoint = desk.endpoint(receiver)
    desk.claim()
    desk.drain()
    assert len(receiver.received) == 1  # the Location was never asked for
    attempt = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"][0]
    assert attempt["last_response_status"] == 302
    assert attempt["status"] == "pending"


def test_the_last_retry_fails_the_delivery_and_a_long_failure_disables_the_endpoint(
    desk: Desk, receiver: Receiver
) -> None:
    receiver.answer = lambda _n: 503
    endpoint = desk.endpoint(receiver)
    desk.claim()
    desk.drain_until(lambda: len(receiver.received) == 4)  # 1 + 3 retries
    desk.drain()
    deliveries = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    assert [(d["status"], d["attempts"]) for d in deliveries] == [("failed", 4)]
    assert len(receiver.received) == 4
    shown = desk.client.get(f"{HOOKS}/{endpoint['id']}").json()
    assert shown["enabled"] is True
    assert shown["failing_since"] is not None

    desk.claim("Another.")  # failing for longer than disable_after: disabled
    time.sleep(0.05)
    desk.drain(webhook_disable_after_seconds=0.01)
    shown = desk.client.get(f"{HOOKS}/{endpoint['id']}").json()
    assert shown["enabled"] is False
    assert shown["disabled_at"] is not None
    assert "503" in shown["disabled_reason"]

    before = desk.scalar("SELECT count(*) FROM webhook_delivery")
    desk.claim("While disabled.")
    assert desk.scalar("SELECT count(*) FROM webhook_delivery") == before  # nothing enqueued

    receiver.answer = lambda _n: 200
    enabled = desk.client.patch(f"{HOOKS}/{endpoint['id']}", json={"enabled": True}).json()
    assert enabled["enabled"] is True
    assert enabled["disabled_reason"] is None
    desk.drain()
    assert bodies(receiver)[-1]["data"]["snapshot"]["statement"] == "Another."


def test_rotation_signs_with_both_secrets_during_the_grace_period(
    desk: Desk, receiver: Receiver
) -> None:
    endpoint = desk.endpoint(receiver)
    rotated = desk.client.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", json={})
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret != endpoint["secret"]
    assert rotated.json()["previous_secret_expires_at"]
    desk.claim()
    desk.drain()
    delivered = receiver.received[-1]
    assert len(delivered.headers["webhook-signature"].split(" ")) == 2
    Webhook(endpoint["secret"]).verify(delivered.body, delivered.headers)
    Webhook(new_secret).verify(delivered.body, delivered.headers)

    again = desk.client.post(f"{HOOKS}/{endpoint['id']}/rotate-secret", json={"grace_seconds": 0})
    newest = again.json()["secret"]
    desk.claim("Later.")
    desk.drain()
    delivered = receiver.received[-1]
    Webhook(newest).verify(delivered.body, delivered.headers)
    for old in (endpoint["secret"], new_secret):
        with pytest.raises(WebhookVerificationError):
            Webhook(old).verify(delivered.body, delivered.headers)


def test_replay_one_delivery_and_a_range(desk: Desk, receiver: Receiver) -> None:
    endpoint = desk.endpoint(receiver, ["claim.*"])
    claims = [desk.claim(f"Claim {n}.") for n in range(3)]
    desk.drain()
    assert len(receiver.received) == 3
    deliveries = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"]
    oldest = deliveries[-1]

    replay = desk.client.post(f"{HOOKS}/{endpoint['id']}/deliveries/{oldest['id']}/replay")
    assert replay.status_code == 202
    desk.drain()
    assert receiver.received[-1].headers["webhook-id"] == oldest["webhook_id"]
    assert receiver.received[-1].body == receiver.received[0].body

    second_revision = bodies(receiver)[1]["data"]["id"]
    queued = desk.client.post(
        f"{HOOKS}/{endpoint['id']}/replay", json={"from_revision": second_revision}
    )
    assert queued.json() == {"queued": 2}
    desk.drain()
    replayed = [body["data"]["entity_id"] for body in bodies(receiver)[4:]]
    assert replayed == [claims[1]["id"], claims[2]["id"]]

    missing = desk.client.post(f"{HOOKS}/{endpoint['id']}/deliveries/999999/replay")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


def test_the_outbox_is_written_in_the_revision_s_transaction_and_only_for_listeners(
    desk: Desk, receiver: Receiver
) -> None:
    desk.claim("Nobody listens.")
    assert desk.scalar("SELECT count(*) FROM webhook_delivery") == 0
    endpoint = desk.endpoint(receiver, ["speaker.created", "*.deleted"])
    claim = desk.claim("Someone listens, not to this.")
    assert desk.scalar("SELECT count(*) FROM webhook_delivery") == 0
    deleted = desk.client.delete(
        f"/api/v1/claims/{claim['id']}", params={"reason": "dup"}, headers={"If-Match": '"v1"'}
    )
    assert deleted.status_code == 200, deleted.text
    refused = desk.client.post("/api/v1/claims", json={"statement": ""})
    assert refused.status_code == 422  # rolled back: no revision, no delivery
    assert desk.scalar("SELECT count(*) FROM webhook_delivery") == 1
    desk.drain()
    assert [body["type"] for body in bodies(receiver)] == ["claim.deleted"]
    assert desk.client.delete(f"{HOOKS}/{endpoint['id']}").status_code == 204
    assert desk.scalar("SELECT count(*) FROM webhook_delivery") == 0
