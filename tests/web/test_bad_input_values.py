"""Edge values thrown at every main route's query, path and body: never a 5xx, and every error
a problem document. Hypothesis draws from the values that have broken servers before (ids past
32 bits, timestamps that overflow when converted to UTC, digits int() refuses, NUL, lone
surrogates, very long and empty strings). Derandomized and bounded: the same cases every run.
"""

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from tests.helpers import PROBLEM, cursor_of

# Hypothesis draws the first elements of a sampled_from most often: the edges come first.
EDGE_INTS = [
    2**31,
    2**31 - 1,
    2**63,
    2**63 - 1,
    2**62,
    2**53 + 1,
    -1,
    0,
    10**30,
    2**64,
    -(2**63) - 1,
    1,
]
EDGE_TIMES = [
    "0001-01-01T00:00:00+05:00",
    "9999-12-31T23:59:59-05:00",
    "0001-01-01T00:00:00Z",
    "0001-01-02T00:00:00Z",
    "9999-12-30T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59.999999+14:00",
    "2020-02-30T00:00:00Z",
    "2020-01-01T00:00:00+24:00",
    "2020-01-01T00:00:00+23:59",
    "-0001-01-01T00:00:00Z",
    "10000-01-01T00:00:00Z",
    "2020-01-01",
    "2020-01-01T00:00:00",
    "253402300800",
    "-62135596800",
    "1e20",
]
EDGE_TEXT = [
    "",
    " ",
    "²",
    "\u0661\u0662\u0663",
    "\U0001d7d7",
    "1e309",
    "NaN",
    "-0",
    "0x1f",
    "1_0",
    "a\x00b",
    "\x00",
    "x" * 5000,
    "\ud800",
    "a\udfffb",
    "\u202e\ufeff",
    "😀" * 300,
    "null",
    "[]",
]
EDGE_SCALARS = st.one_of(
    st.sampled_from(EDGE_INTS),
    st.sampled_from(EDGE_TIMES),
    st.sampled_from(EDGE_TEXT),
    st.integers(),
    st.text(max_size=30),
)
# What a JSON body can carry besides: other types, floats JSON has no spelling for.
EDGE_JSON = st.one_of(
    EDGE_SCALARS,
    st.none(),
    st.booleans(),
    st.floats(),
    st.lists(st.sampled_from(EDGE_TEXT + EDGE_TIMES), max_size=3),
    st.dictionaries(st.sampled_from(["", "a", "\x00"]), st.sampled_from(EDGE_INTS), max_size=2),
)
TIME_NAMES = {"claimed_at", "published_at", "claimed_after", "claimed_before", "updated_since"}
INT_NAMES = {"limit", "after", "from", "to", "to_version", "speaker_id", "outlet_id", "source_id"}


def values_for(name: str) -> st.SearchStrategy[Any]:
    """Edge values, half of them of the kind the parameter takes: that is where crashes hide
    (a value of the wrong kind is refused early)."""
    if name in TIME_NAMES:
        return st.one_of(st.sampled_from(EDGE_TIMES), EDGE_JSON)
    if name in INT_NAMES or name.endswith("_id"):
        return st.one_of(st.sampled_from(EDGE_INTS), EDGE_JSON)
    return EDGE_JSON


HUNT = settings(
    max_examples=6,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
LISTS = {
    "/api/v1/claims": [
        "sort",
        "cursor",
        "limit",
        "status",
        "review",
        "speaker_id",
        "outlet_id",
        "topic",
        "language",
        "q",
        "claimed_after",
        "claimed_before",
        "updated_since",
    ],
    "/api/v1/speakers": ["sort", "cursor", "limit", "q", "kind", "country", "updated_since"],
    "/api/v1/outlets": ["sort", "cursor", "limit", "q", "kind", "country", "updated_since"],
    "/api/v1/sources": ["sort", "cursor", "limit", "q", "outlet_id", "language", "updated_since"],
    "/api/v1/changes": ["after", "entity_type", "limit"],
    "/api/v1/exports": ["claimed_after", "updated_since", "speaker_id", "cursor", "format"],
    "/api/v1/keys": ["include_revoked"],
}
SORTS = {
    "/api/v1/claims": ["id", "-id", "claimed_at", "-claimed_at", "updated_at", "-updated_at"],
    "/api/v1/speakers": ["name", "-name", "updated_at", "-id"],
    "/api/v1/outlets": ["name", "-name", "updated_at", "-id"],
    "/api/v1/sources": ["published_at", "-published_at", "updated_at", "-id"],
}
ENTITY_PATHS = ["claims", "speakers", "outlets", "sources"]
BODIES: dict[str, dict[str, Any]] = {
    "/api/v1/claims": {
        "statement": "x",
        "claimed_at": "2023-03-08T10:00:00Z",
        "speaker_id": "{speakers}",
        "outlet_id": "{outlets}",
        "topics": ["a"],
        "language": "en",
        "original_quote": "q",
        "context": "c",
        "place": "p",
        "external_id": "e",
    },
    "/api/v1/speakers": {"name": "n", "kind": "person", "aliases": ["a"], "country": "UA"},
    "/api/v1/outlets": {"name": "n", "kind": "other", "domain": "example.org", "language": "en"},
    "/api/v1/sources": {
        "url": "https://example.org/a",
        "title": "t",
        "outlet_id": "{outlets}",
        "published_at": "2023-03-08T10:00:00Z",
        "excerpt": "e",
    },
}
PART_BODIES: dict[str, dict[str, Any]] = {
    "evidence": {
        "title": "t",
        "stance": "refutes",
        "url": "https://e.org/",
        "source_id": "{sources}",
    },
    "appearances": {"source_id": "{sources}", "role": "report", "quote": "q"},
    "status": {"status": "false", "verdict": "v", "reason": "r"},
    "revert": {"to_version": 1, "reason": "r"},
    "restore": {"reason": "r"},
}


@dataclass
class Seeded:
    """A client, and the ids of one entity of each kind (PostgreSQL's sequences are not rolled
    back with the test, so they are not 1)."""

    client: TestClient
    ids: dict[str, int]

    def url(self, template: str) -> str:
        return template.format(**self.ids)

    def body(self, template: dict[str, Any]) -> dict[str, Any]:
        """The template with its "{kind}" placeholders replaced by the ids."""
        return {
            key: self.ids[value[1:-1]] if isinstance(value, str) and value[:1] == "{" else value
            for key, value in template.items()
        }

    def etag(self, url: str) -> str:
        return str(self.client.get(self.url(url)).headers.get("etag", '"v1"'))


def as_query(value: Any) -> str:
    """The value as a client would put it in a URL; lone surrogates as their UTF-8-ish bytes."""
    return quote(str(value), safe="", errors="surrogatepass")


def as_json(body: Any) -> bytes:
    # ASCII-escaped, so a lone surrogate travels as the \\ud800 escape a client could send.
    return json.dumps(body, ensure_ascii=True).encode("ascii")


def check(response: Any) -> None:
    """Never a server error; an error is a problem document that says its own status."""
    assert response.status_code < 500, response.text[:500]
    if response.status_code >= 400:
        assert response.headers["content-type"] == PROBLEM, response.text[:500]
        assert response.json()["status"] == response.status_code


def send_json(client: TestClient, method: str, url: str, body: Any, **headers: str) -> None:
    response = client.request(
        method, url, content=as_json(body), headers={"Content-Type": "application/json", **headers}
    )
    check(response)


@pytest.fixture
def seeded(client: TestClient) -> Seeded:
    """One of each entity, so lookups reach the database and find something."""
    outlet = client.post("/api/v1/outlets", json={"name": "o"}).json()
    speaker = client.post("/api/v1/speakers", json={"name": "s"}).json()
    source = client.post(
        "/api/v1/sources", json={"url": "https://example.org/s", "outlet_id": outlet["id"]}
    ).json()
    claim = client.post(
        "/api/v1/claims",
        json={"statement": "x", "speaker_id": speaker["id"], "claimed_at": "2023-01-01T00:00:00Z"},
    ).json()
    evidence = client.post(
        f"/api/v1/claims/{claim['id']}/evidence",
        json={"title": "t", "stance": "supports", "source_id": source["id"]},
    ).json()
    ids = {"claims": claim["id"], "speakers": speaker["id"], "outlets": outlet["id"]}
    ids |= {"sources": source["id"], "evidence": evidence["id"]}
    return Seeded(client, ids)


# Every test walks every route and every parameter or field of it, and draws only the values:
# hypothesis favours the first of a sampled_from, so a drawn field would leave some untried.


class TestQueryValues:
    @HUNT
    @given(data=st.data())
    def test_list_filters(self, seeded: Seeded, data: st.DataObject) -> None:
        for path, names in LISTS.items():
            for name in names:
                value = as_query(data.draw(values_for(name)))
                check(seeded.client.get(f"{path}?{name}={value}"))

    @HUNT
    @given(data=st.data())
    def test_crafted_cursors(self, seeded: Seeded, data: st.DataObject) -> None:
        for path, sorts in SORTS.items():
            for sort in sorts:
                document = data.draw(
                    st.one_of(
                        st.fixed_dictionaries(
                            {
                                "s": st.just(sort),
                                "v": st.one_of(st.sampled_from(EDGE_TIMES), EDGE_JSON),
                                "i": st.sampled_from(EDGE_INTS),
                            }
                        ),
                        st.dictionaries(st.sampled_from(["s", "v", "i", "x"]), EDGE_JSON),
                        EDGE_JSON,
                    )
                )
                try:
                    cursor = cursor_of(document)
                except (TypeError, orjson.JSONEncodeError):  # what orjson will not write
                    cursor = as_query(document)
                check(seeded.client.get(path, params={"sort": sort, "cursor": cursor}))

    @HUNT
    @given(data=st.data())
    def test_history_params(self, seeded: Seeded, data: st.DataObject) -> None:
        for entity in ENTITY_PATHS:
            for name, rest in [
                ("as_of", ""),
                ("cursor", "/history"),
                ("limit", "/history"),
                ("from", "/diff?to=1"),
                ("to", "/diff?from=1"),
            ]:
                glue = "&" if "?" in rest else "?"
                value = as_query(data.draw(st.one_of(values_for(name), values_for("claimed_at"))))
                url = f"/api/v1/{entity}/{seeded.ids[entity]}{rest}{glue}{name}={value}"
                check(seeded.client.get(url))


class TestPathValues:
    @HUNT
    @given(data=st.data())
    def test_ids_in_paths(self, seeded: Seeded, data: st.DataObject) -> None:
        claim = seeded.ids["claims"]
        for entity in ENTITY_PATHS:
            routes = [
                ("GET", f"/api/v1/{entity}/{{}}"),
                ("GET", f"/api/v1/{entity}/{{}}/history"),
                ("GET", f"/api/v1/{entity}/{seeded.ids[entity]}/history/{{}}"),
                ("GET", f"/api/v1/{entity}/{{}}/diff?from=1&to=1"),
                ("DELETE", f"/api/v1/{entity}/{{}}?reason=r"),
            ]
            if entity == "claims":
                routes += [
                    ("GET", "/api/v1/claims/{}/evidence"),
                    ("GET", "/api/v1/claims/{}/claimreview"),
                    ("DELETE", f"/api/v1/claims/{claim}/evidence/{{}}?reason=r"),
                    ("DELETE", f"/api/v1/claims/{claim}/appearances/{{}}?reason=r"),
                    ("DELETE", "/api/v1/keys/{}"),
                ]
            for method, template in routes:
                url = template.format(as_query(data.draw(values_for("id"))))
                check(seeded.client.request(method, url, headers={"If-Match": '"v1"'}))


class TestBodyValues:
    """One field at a time takes an edge value; the rest of the body is valid."""

    @HUNT
    @given(data=st.data())
    def test_creates(self, seeded: Seeded, data: st.DataObject) -> None:
        for path, valid in BODIES.items():
            for field in valid:
                body = seeded.body(valid)
                body[field] = data.draw(values_for(field))
                send_json(seeded.client, "POST", path, body)

    @HUNT
    @given(data=st.data())
    def test_updates(self, seeded: Seeded, data: st.DataObject) -> None:
        for path, valid in BODIES.items():
            url = f"{path}/{seeded.ids[path.rsplit('/', 1)[1]]}"
            version = seeded.etag(url)
            for field in valid:
                body = {field: data.draw(values_for(field))}
                send_json(seeded.client, "PATCH", url, body, **{"If-Match": version})

    @HUNT
    @given(data=st.data())
    def test_claim_parts_and_keys(self, seeded: Seeded, data: st.DataObject) -> None:
        routes = [
            *((f"/api/v1/claims/{{claims}}/{part}", "POST", b) for part, b in PART_BODIES.items()),
            ("/api/v1/claims/{claims}/evidence/{evidence}", "PATCH", PART_BODIES["evidence"]),
            ("/api/v1/keys", "POST", {"name": "k", "role": "reader"}),
        ]
        version = seeded.etag("/api/v1/claims/{claims}")
        for url, method, valid in routes:
            for field in valid:
                body = seeded.body(valid)
                body[field] = data.draw(values_for(field))
                send_json(seeded.client, method, seeded.url(url), body, **{"If-Match": version})

    @HUNT
    @given(data=st.data())
    def test_import_records(self, seeded: Seeded, data: st.DataObject) -> None:
        valid: dict[str, Any] = {
            "external_id": "hunt:1",
            "statement": "x",
            "claimed_at": "2023-03-08T10:00:00Z",
            "speaker": "s",
            "sources": [{"url": "https://example.org/i", "published_at": "2023-03-08"}],
        }
        for field in [*valid, "published_at"]:
            record = dict(valid)
            value = data.draw(values_for(field))
            if field == "published_at":
                record["sources"] = [{"url": "https://example.org/i", "published_at": value}]
            else:
                record[field] = value
            response = seeded.client.post(
                "/api/v1/imports",
                content=as_json(record) + b"\n",
                headers={"Content-Type": "application/x-ndjson"},
            )
            check(response)
