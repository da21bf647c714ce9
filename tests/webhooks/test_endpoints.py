"""Managing endpoints over HTTP: validation (422), 404s, secrets shown once, admins only, and
the SSRF guard at creation and at send time."""

import asyncio
import ipaddress

import pytest

from app.auth.actor import Role
from app.webhooks.targets import TargetRefused, refusal, resolve_target
from tests.conftest import MakeClient
from tests.webhooks.conftest import HOOKS, Desk
from tests.webhooks.receiver import Receiver

PUBLIC = "https://93.184.215.14/hook"  # a literal public address: no DNS needed


def test_create_read_update_delete_never_show_the_secret_again(make_client: MakeClient) -> None:
    client = make_client(Role.admin)
    created = client.post(
        HOOKS, json={"url": PUBLIC, "events": ["claim.*", "speaker.created"], "description": "CMS"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == f"{HOOKS}/{body['id']}"
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) > 40
    shown = client.get(f"{HOOKS}/{body['id']}").json()
    assert "secret" not in shown
    assert shown["events"] == ["claim.*", "speaker.created"]
    assert body["secret"] not in client.get(HOOKS).text
    changed = client.patch(f"{HOOKS}/{body['id']}", json={"events": ["*"], "enabled": False})
    assert changed.json()["events"] == ["*"]
    assert changed.json()["enabled"] is False
    assert changed.json()["disabled_reason"] == "Disabled by an admin."
    assert client.delete(f"{HOOKS}/{body['id']}").status_code == 204
    gone = client.get(f"{HOOKS}/{body['id']}")
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    assert client.delete(f"{HOOKS}/{body['id']}").status_code == 404
    assert client.post(f"{HOOKS}/{body['id']}/rotate-secret").status_code == 404
    assert client.get(f"{HOOKS}/{body['id']}/deliveries").status_code == 404


@pytest.mark.parametrize(
    "events", [["claim.exploded"], ["claims.*"], ["claim"], [], ["*.*", "nothing.created"]]
)
def test_events_must_name_real_entity_types_and_actions(
    make_client: MakeClient, events: list[str]
) -> None:
    response = make_client(Role.admin).post(HOOKS, json={"url": PUBLIC, "events": events})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_only_admins_manage_webhooks(make_client: MakeClient) -> None:
    editor = make_client(Role.editor)
    assert editor.get(HOOKS).status_code == 403
    assert editor.post(HOOKS, json={"url": PUBLIC, "events": ["*"]}).status_code == 403


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://localhost:8080/hook",
        "http://[::1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:127.0.0.1]/",
        "http://100.64.0.1/",
        "http://224.0.0.1/",
        "http://0.0.0.0/",
        "ftp://93.184.215.14/",
        "http://user:pw@93.184.215.14/",
    ],
)
def test_private_and_odd_targets_are_refused_at_creation(make_client: MakeClient, url: str) -> None:
    response = make_client(Role.admin).post(HOOKS, json={"url": url, "events": ["*"]})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"


def test_allowing_private_targets_lets_loopback_in(make_client: MakeClient) -> None:
    client = make_client(Role.admin, webhook_allow_private_targets=True)
    response = client.post(HOOKS, json={"url": "http://127.0.0.1:9/hook", "events": ["*"]})
    assert response.status_code == 201


def test_the_guard_checks_every_address_and_pins_the_checked_one() -> None:
    assert refusal(ipaddress.ip_address("93.184.215.14")) is None
    assert refusal(ipaddress.ip_address("2606:2800:21f:cb07:6820:80da:af6b:8b2c")) is None
    assert refusal(ipaddress.ip_address("169.254.169.254")) is not None
    target = asyncio.run(resolve_target("https://93.184.215.14:8443/a?b=1", allow_private=False))
    assert target.pinned_url == "https://93.184.215.14:8443/a?b=1"
    assert target.host_header == "93.184.215.14:8443"
    with pytest.raises(TargetRefused):
        asyncio.run(resolve_target("http://localhost/", allow_private=False))


def test_a_target_is_checked_again_at_send_time(desk: Desk, receiver: Receiver) -> None:
    endpoint = desk.endpoint(receiver)  # created while private targets were allowed
    desk.claim()
    desk.drain(webhook_allow_private_targets=False)
    assert receiver.received == []
    delivery = desk.client.get(f"{HOOKS}/{endpoint['id']}/deliveries").json()["items"][0]
    assert delivery["attempt_log"][0]["outcome"] == "refused"
    assert "loopback" in delivery["last_error"]
    assert delivery["status"] == "pending"  # retried later: DNS may change, so may the setting
