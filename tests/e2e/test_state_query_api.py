"""Spec §2.1 "Query (alpha)" over HTTP against a real ``tandemd``, on both built-in stores."""
from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Sidecar, SidecarLauncher, http, http_json

pytestmark = pytest.mark.e2e

STORES = {
    "in-memory": lambda base: {"type": "state.in-memory"},
    "sqlite": lambda base: {"type": "state.sqlite", "metadata": {"connectionString": str(base / "state.db")}},
}

# Dapr's docs example, trimmed.
PEOPLE: dict[str, dict[str, Any]] = {
    "1": {"person": {"org": "Dev Ops", "id": 1036}, "city": "San Francisco", "state": "CA"},
    "2": {"person": {"org": "Hardware", "id": 1028}, "city": "Seattle", "state": "WA"},
    "3": {"person": {"org": "Finance", "id": 1071}, "city": "Sacramento", "state": "CA"},
    "4": {"person": {"org": "Dev Ops", "id": 1042}, "city": "Spokane", "state": "WA"},
    "5": {"person": {"org": "Hardware", "id": 1007}, "city": "Los Angeles", "state": "CA"},
    "6": {"person": {"org": "Dev Ops", "id": 1054}, "city": "Portland", "state": "OR"},
}


@pytest.fixture(scope="module", params=sorted(STORES))
def sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    base = tmp_path_factory.mktemp(request.param)
    launcher = SidecarLauncher(base)
    yield launcher.start({"statestore": STORES[request.param](base)}, app_id="queryapp")
    launcher.stop_all()


@pytest.fixture
def tag(request: pytest.FixtureRequest) -> str:
    """Each test seeds and queries its own documents in the shared store."""
    return request.node.name.replace("[", "-").replace("]", "")


def seed(url: str, tag: str, store: str = "statestore") -> None:
    items = [{"key": f"{tag}-{n}", "value": {**doc, "tag": tag}} for n, doc in PEOPLE.items()]
    assert http_json("POST", f"{url}/v1.0/state/{store}", items) == (204, None)


def mine(tag: str, *filters: dict[str, Any]) -> dict[str, Any]:
    """``filters`` AND this test's tag."""
    return {"AND": [{"EQ": {"tag": tag}}, *filters]} if filters else {"EQ": {"tag": tag}}


def query(url: str, body: Any, method: str = "POST", store: str = "statestore",
          params: str = "") -> tuple[int, Any]:
    return http_json(method, f"{url}/v1.0-alpha1/state/{store}/query{params}", body)


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_filter_and_sort_return_keys_data_and_etags(sidecar: Sidecar, tag: str, method: str) -> None:
    seed(sidecar.url, tag)
    status, body = query(sidecar.url, {"filter": mine(tag, {"EQ": {"person.org": "Dev Ops"}}),
                                       "sort": [{"key": "person.id", "order": "DESC"}]}, method)
    assert status == 200
    assert [r["key"] for r in body["results"]] == [f"{tag}-6", f"{tag}-4", f"{tag}-1"]
    assert "token" not in body
    first = body["results"][0]
    assert set(first) == {"key", "data", "etag"}
    assert first["data"] == {**PEOPLE["6"], "tag": tag}
    assert first["etag"] == http("GET", f"{sidecar.url}/v1.0/state/statestore/{tag}-6")[1]["etag"]


def test_keys_come_back_without_the_app_id_prefix(sidecar: Sidecar, tag: str) -> None:
    seed(sidecar.url, tag)
    status, body = query(sidecar.url, {"filter": mine(tag, {"IN": {"state": ["OR"]}})})
    assert status == 200 and [r["key"] for r in body["results"]] == [f"{tag}-6"]


def test_nested_filters_and_multi_key_sort(sidecar: Sidecar, tag: str) -> None:
    seed(sidecar.url, tag)
    status, body = query(sidecar.url, {
        "filter": mine(tag, {"OR": [{"IN": {"state": ["CA", "OR"]}}, {"GT": {"person.id": 1040}}]},
                       {"NEQ": {"person.org": "Finance"}}),
        "sort": [{"key": "state"}, {"key": "city", "order": "DESC"}],
    })
    assert status == 200
    assert [r["key"].rsplit("-", 1)[1] for r in body["results"]] == ["1", "5", "6", "4"]


def test_paging_through_every_result_with_tokens(sidecar: Sidecar, tag: str) -> None:
    seed(sidecar.url, tag)
    request: dict[str, Any] = {"filter": mine(tag), "sort": [{"key": "person.id"}], "page": {"limit": 4}}
    seen: list[str] = []
    while True:
        status, body = query(sidecar.url, request)
        assert status == 200
        seen += [r["key"].rsplit("-", 1)[1] for r in body["results"]]
        if "token" not in body:
            break
        request["page"] = {"limit": 4, "token": body["token"]}
    assert seen == ["5", "2", "1", "4", "6", "3"]


def test_no_results_is_204_with_no_body(sidecar: Sidecar, tag: str) -> None:
    seed(sidecar.url, tag)
    status, _, data = http("POST", f"{sidecar.url}/v1.0-alpha1/state/statestore/query",
                                 json.dumps({"filter": mine(tag, {"EQ": {"state": "NY"}})}).encode())
    assert (status, data) == (204, b"")


def test_query_string_metadata_is_accepted(sidecar: Sidecar, tag: str) -> None:
    seed(sidecar.url, tag)
    status, body = query(sidecar.url, {"filter": mine(tag)}, params="?metadata.queryIndexName=people")
    assert status == 200 and len(body["results"]) == 6


@pytest.mark.parametrize("body,needle", [
    (b"{not json", "failed deserializing HTTP body"),
    (b'{"filter": {"LIKE": {"state": "C%"}}}', "unknown operator 'LIKE'"),
    (b'{"filter": {"EQ": {"state": "CA", "city": "Seattle"}}}', "exactly one field/value pair"),
    (b'{"filter": {"IN": {"state": "CA"}}}', "must be an array"),
    (b'{"sort": [{"key": "city", "order": "SIDEWAYS"}]}', "invalid order"),
    (b'{"page": {"limit": -1}}', "page.limit"),
    (b'{"page": {"limit": 2, "token": "not-a-token"}}', "invalid token"),
    (b"[]", "query must be a JSON object"),
])
def test_malformed_queries_are_400(sidecar: Sidecar, body: bytes, needle: str) -> None:
    status, _, data = http("POST", f"{sidecar.url}/v1.0-alpha1/state/statestore/query", body,
                           {"content-type": "application/json"})
    assert status == 400
    error = json.loads(data)
    assert error["errorCode"] == "ERR_MALFORMED_REQUEST" and needle in error["message"]


def test_unknown_store_is_400(sidecar: Sidecar) -> None:
    status, body = query(sidecar.url, {}, store="nostore")
    assert status == 400 and body["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"


def test_expired_keys_are_not_returned(sidecar: Sidecar, tag: str) -> None:
    items = [{"key": f"{tag}-short", "value": {"tag": tag}, "metadata": {"ttlInSeconds": "1"}},
             {"key": f"{tag}-long", "value": {"tag": tag}, "metadata": {"ttlInSeconds": "60"}}]
    assert http_json("POST", f"{sidecar.url}/v1.0/state/statestore", items)[0] == 204
    assert len(query(sidecar.url, {"filter": mine(tag)})[1]["results"]) == 2
    time.sleep(1.2)
    status, body = query(sidecar.url, {"filter": mine(tag)})
    assert status == 200 and [r["key"] for r in body["results"]] == [f"{tag}-long"]


def test_metadata_reports_the_query_capability(sidecar: Sidecar) -> None:
    status, doc = http_json("GET", f"{sidecar.url}/v1.0/metadata")
    assert status == 200 and "QUERY_API" in doc["components"][0]["capabilities"]


def test_another_apps_keys_in_a_shared_sqlite_file_are_not_returned(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = {"store": {"type": "state.sqlite", "metadata": {"connectionString": str(tmp_path / "shared.db")}}}
    one, two = tandemd(store, app_id="one"), tandemd(store, app_id="two")
    seed(one.url, "t", store="store")
    http_json("POST", f"{two.url}/v1.0/state/store", [{"key": "t-9", "value": {"tag": "t", "state": "CA"}}])
    status, body = query(one.url, {"filter": {"EQ": {"state": "CA"}}}, store="store")
    assert status == 200 and [r["key"] for r in body["results"]] == ["t-1", "t-3", "t-5"]
    status, body = query(two.url, {}, store="store")
    assert status == 200 and [r["key"] for r in body["results"]] == ["t-9"]
