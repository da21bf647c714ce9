"""The HTTP contract every tracked entity's routes keep: create and read with ETags, a change
only with If-Match, delete (410), restore, as_of, revert as a new version, paging, unknown
fields refused. Speakers, outlets and sources each run it from their own test_router.py by
subclassing ``TrackedRoutes`` with their path, a body to create and a change to make."""

from datetime import datetime
from typing import Any, ClassVar

from starlette.testclient import TestClient

from tests.helpers import created


class TrackedRoutes:
    path: ClassVar[str]
    body: ClassVar[dict[str, Any]]
    change: ClassVar[dict[str, Any]]  # one field, unset in ``body``

    def test_create_read_change_with_etags(self, client: TestClient) -> None:
        url = f"{self.path}/{created(client, self.path, self.body)['id']}"
        assert client.get(url).headers["etag"] == '"v1"'
        assert client.patch(url, json=self.change).status_code == 428
        changed = client.patch(url, json=self.change, headers={"If-Match": '"v1"'})
        assert changed.status_code == 200
        assert changed.headers["etag"] == '"v2"'
        history = client.get(f"{url}/history").json()["items"]
        assert [revision["version"] for revision in history] == [1, 2]
        field = next(iter(self.change))
        assert history[1]["changes"] == {field: {"from": None, "to": self.change[field]}}

    def test_delete_restore_and_as_of(self, client: TestClient) -> None:
        url = f"{self.path}/{created(client, self.path, self.body)['id']}"
        client.patch(url, json=self.change, headers={"If-Match": '"v1"'})
        deleted = client.delete(url, params={"reason": "Duplicate"}, headers={"If-Match": '"v2"'})
        assert deleted.status_code == 200
        assert client.get(url).status_code == 410
        old = client.get(url, params={"as_of": "1"})
        assert old.status_code == 200
        assert old.json()["version"] == 1
        assert "etag" not in old.headers
        restored = client.post(
            f"{url}/restore", json={"reason": "Not a duplicate"}, headers={"If-Match": '"v3"'}
        )
        assert restored.status_code == 200
        assert client.get(url).json()["deleted_at"] is None

    def test_412_and_428_name_the_current_etag(self, client: TestClient) -> None:
        url = f"{self.path}/{created(client, self.path, self.body)['id']}"
        required = client.patch(url, json=self.change).json()
        assert required["detail"] == (
            'This write needs an If-Match header with the ETag you last read (currently "v1").'
        )
        assert required["current_etag"] == '"v1"'
        stale = client.patch(url, json=self.change, headers={"If-Match": '"v7"'}).json()
        assert stale["detail"] == (
            'The resource is at "v1", not "v7": someone changed it since you read it. '
            "Read it again and re-apply your change."
        )
        assert stale["current_etag"] == '"v1"'
        assert {"current_version", "expected_version"}.isdisjoint(stale)

    def test_404_and_410_say_what_is_missing(self, client: TestClient) -> None:
        noun = self.path.rsplit("/", 1)[1].removesuffix("s")
        entity = created(client, self.path, self.body)
        url = f"{self.path}/{entity['id']}"
        assert client.get(f"{self.path}/987654").json()["detail"] == f"No {noun} with id 987654."
        deleted = client.delete(url, params={"reason": "Dup"}, headers={"If-Match": '"v1"'})
        gone = client.get(url).json()
        assert (
            gone["detail"] == f"{noun} {entity['id']} was deleted; its history is still readable."
        )
        assert datetime.fromisoformat(gone["deleted_at"]) == datetime.fromisoformat(
            deleted.json()["deleted_at"]
        )
        refused = client.patch(url, json=self.change, headers={"If-Match": '"v2"'}).json()
        assert refused["detail"] == f"{noun} {entity['id']} was deleted; restore it to change it."

    def test_revert_brings_back_old_values_as_a_new_version(self, client: TestClient) -> None:
        url = f"{self.path}/{created(client, self.path, self.body)['id']}"
        client.patch(url, json=self.change, headers={"If-Match": '"v1"'})
        reverted = client.post(
            f"{url}/revert", json={"to_version": 1, "reason": "Wrong"}, headers={"If-Match": '"v2"'}
        )
        assert reverted.status_code == 200
        assert reverted.json()["version"] == 3
        assert reverted.json()[next(iter(self.change))] is None
        last = client.get(f"{url}/history/3").json()
        assert last["action"] == "reverted"
        assert last["reverted_to"] == 1

    def test_list_pages_and_unknown_fields(self, client: TestClient) -> None:
        for n in range(5):
            unique = {
                k: (f"{v}{n}" if isinstance(v, str) and k != "kind" else v)
                for k, v in self.body.items()
            }
            created(client, self.path, unique)
        first = client.get(self.path, params={"limit": 2})
        assert len(first.json()["items"]) == 2
        assert 'rel="next"' in first.headers["link"]
        assert client.post(self.path, json={**self.body, "bogus": 1}).status_code == 422
