"""Spec §2.1/§2.2, row by row, over HTTP against a real ``tandemd``, on both built-in stores."""
from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Sidecar, SidecarLauncher, http, http_json

pytestmark = pytest.mark.e2e

STORES = {
    "in-memory": lambda base: {"type": "state.in-memory"},
    "sqlite": lambda base: {"type": "state.sqlite", "metadata": {"connectionString": str(base / "state.db")}},
}


@pytest.fixture(scope="module", params=sorted(STORES))
def sidecar(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sidecar]:
    base = tmp_path_factory.mktemp(request.param)
    launcher = SidecarLauncher(base)
    yield launcher.start({"statestore": STORES[request.param](base)}, app_id="stateapp")
    launcher.stop_all()


@pytest.fixture
def key(request: pytest.FixtureRequest) -> str:
    return request.node.name.replace("[", "-").replace("]", "")


def state(sidecar: Sidecar, path: str = "") -> str:
    return f"{sidecar.url}/v1.0/state/statestore{path}"


def save(sidecar: Sidecar, items: object, query: str = "", method: str = "POST") -> tuple[int, object]:
    return http_json(method, state(sidecar) + query, items)


def get(sidecar: Sidecar, key: str, query: str = "") -> tuple[int, dict[str, str], bytes]:
    return http("GET", state(sidecar, f"/{key}{query}"))


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_save_then_get_returns_the_json_value_with_an_etag(sidecar: Sidecar, key: str, method: str) -> None:
    assert save(sidecar, [{"key": key, "value": {"a": 1, "b": [1, 2]}}], method=method) == (204, None)
    status, headers, body = get(sidecar, key)
    assert status == 200
    assert json.loads(body) == {"a": 1, "b": [1, 2]}
    assert headers["content-type"].startswith("application/json")
    assert headers["etag"]


def test_a_string_value_is_stored_as_its_json_serialisation(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": "hello"}])
    assert get(sidecar, key)[2] == b'"hello"'


def test_save_of_an_empty_array_is_204(sidecar: Sidecar) -> None:
    assert save(sidecar, []) == (204, None)


def test_get_of_a_missing_key_is_204_with_no_body(sidecar: Sidecar, key: str) -> None:
    status, _, body = get(sidecar, key + "-missing")
    assert (status, body) == (204, b"")


def test_get_accepts_consistency_and_rejects_nonsense(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}])
    assert get(sidecar, key, "?consistency=strong")[0] == 200
    status, _, body = get(sidecar, key, "?consistency=sometimes")
    assert status == 400 and json.loads(body)["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_etag_guards_save(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}])
    etag = get(sidecar, key)[1]["etag"]
    assert save(sidecar, [{"key": key, "value": 2, "etag": etag}]) == (204, None)
    status, body = save(sidecar, [{"key": key, "value": 3, "etag": etag}])
    assert status == 409 and body["errorCode"] == "ERR_STATE_SAVE"
    assert json.loads(get(sidecar, key)[2]) == 2


def test_an_invalid_etag_is_400(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}])
    status, body = save(sidecar, [{"key": key, "value": 2, "etag": "not an etag"}])
    assert status == 400 and body["errorCode"] == "ERR_STATE_SAVE"


def test_first_write_refuses_to_overwrite(sidecar: Sidecar, key: str) -> None:
    first = {"key": key, "value": 1, "options": {"concurrency": "first-write", "consistency": "strong"}}
    assert save(sidecar, [first]) == (204, None)
    status, body = save(sidecar, [{**first, "value": 2}])
    assert status == 409 and body["errorCode"] == "ERR_STATE_SAVE"
    assert save(sidecar, [{"key": key, "value": 3, "options": {"concurrency": "last-write"}}]) == (204, None)


def test_unknown_concurrency_is_400(sidecar: Sidecar, key: str) -> None:
    status, body = save(sidecar, [{"key": key, "value": 1, "options": {"concurrency": "whenever"}}])
    assert status == 400 and "concurrency" in body["message"]


def test_field_names_are_matched_case_insensitively_like_go(sidecar: Sidecar, key: str) -> None:
    assert save(sidecar, [{"Key": key, "Value": 7}]) == (204, None)
    assert get(sidecar, key)[2] == b"7"


@pytest.mark.parametrize("body", [b"{not json", b'{"key": "x"}', b'[{"value": 1}]', b'[{"key": ""}]', b"[1]"])
def test_malformed_save_bodies_are_400(sidecar: Sidecar, body: bytes) -> None:
    status, _, data = http("POST", state(sidecar), body, {"content-type": "application/json"})
    assert status == 400
    assert json.loads(data)["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_keys_containing_the_separator_are_refused(sidecar: Sidecar) -> None:
    status, body = save(sidecar, [{"key": "a||b", "value": 1}])
    assert status == 400
    assert body["errorCode"] == "ERR_MALFORMED_REQUEST"
    assert body["details"][0]["reason"] == "DAPR_STATE_ILLEGAL_KEY"
    assert get(sidecar, "a||b")[0] == 400


def test_unknown_store_is_400_with_rich_details(sidecar: Sidecar) -> None:
    status, body = http_json("POST", f"{sidecar.url}/v1.0/state/nostore", [{"key": "k", "value": 1}])
    assert status == 400
    assert body["errorCode"] == "ERR_STATE_STORE_NOT_FOUND"
    assert "nostore" in body["message"]
    assert body["details"][0]["reason"] == "DAPR_STATE_NOT_FOUND"
    assert http("GET", f"{sidecar.url}/v1.0/state/nostore/k")[0] == 400


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_bulk_get_reports_each_key(sidecar: Sidecar, key: str, method: str) -> None:
    save(sidecar, [{"key": f"{key}-1", "value": {"n": 1}}, {"key": f"{key}-2", "value": "two"}])
    status, items = http_json(method, state(sidecar, "/bulk"),
                              {"keys": [f"{key}-1", f"{key}-2", f"{key}-none"], "parallelism": 2})
    assert status == 200
    by_key = {item["key"]: item for item in items}
    assert by_key[f"{key}-1"]["data"] == {"n": 1} and by_key[f"{key}-1"]["etag"]
    assert by_key[f"{key}-2"]["data"] == "two"
    assert by_key[f"{key}-none"] == {"key": f"{key}-none"}


def test_bulk_get_of_no_keys_is_an_empty_list(sidecar: Sidecar) -> None:
    assert http_json("POST", state(sidecar, "/bulk"), {"keys": []}) == (200, [])


def test_delete_without_etag(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}])
    assert http("DELETE", state(sidecar, f"/{key}"))[0] == 204
    assert get(sidecar, key)[0] == 204
    assert http("DELETE", state(sidecar, f"/{key}"))[0] == 204


def test_delete_honours_if_match(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}])
    etag = get(sidecar, key)[1]["etag"]
    save(sidecar, [{"key": key, "value": 2}])
    status, _, body = http("DELETE", state(sidecar, f"/{key}"), headers={"If-Match": etag})
    assert status == 409 and json.loads(body)["errorCode"] == "ERR_STATE_DELETE"
    status, _, body = http("DELETE", state(sidecar, f"/{key}"), headers={"If-Match": "garbage etag"})
    assert status == 400 and json.loads(body)["errorCode"] == "ERR_STATE_DELETE"
    fresh = get(sidecar, key)[1]["etag"]
    assert http("DELETE", state(sidecar, f"/{key}?concurrency=first-write&consistency=strong"),
                headers={"If-Match": fresh})[0] == 204
    assert get(sidecar, key)[0] == 204


@pytest.mark.parametrize("method", ["POST", "PUT"])
def test_transaction_applies_upserts_and_deletes(sidecar: Sidecar, key: str, method: str) -> None:
    save(sidecar, [{"key": f"{key}-old", "value": 1}])
    status, _ = http_json(method, state(sidecar, "/transaction"), {"operations": [
        {"operation": "upsert", "request": {"key": f"{key}-new", "value": {"x": 1}}},
        {"operation": "delete", "request": {"key": f"{key}-old"}},
    ], "metadata": {"partitionKey": "p"}})
    assert status == 204
    assert json.loads(get(sidecar, f"{key}-new")[2]) == {"x": 1}
    assert get(sidecar, f"{key}-old")[0] == 204


def test_a_transaction_that_fails_part_way_changes_nothing(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": f"{key}-a", "value": "before"}, {"key": f"{key}-b", "value": "before"}])
    stale = get(sidecar, f"{key}-b")[1]["etag"]
    save(sidecar, [{"key": f"{key}-b", "value": "changed"}])
    status, body = http_json("POST", state(sidecar, "/transaction"), {"operations": [
        {"operation": "upsert", "request": {"key": f"{key}-a", "value": "after"}},
        {"operation": "delete", "request": {"key": f"{key}-c"}},
        {"operation": "upsert", "request": {"key": f"{key}-b", "value": "after", "etag": stale}},
    ]})
    assert status == 500 and body["errorCode"] == "ERR_STATE_TRANSACTION"
    assert get(sidecar, f"{key}-a")[2] == b'"before"'
    assert get(sidecar, f"{key}-b")[2] == b'"changed"'


def test_transaction_edge_cases(sidecar: Sidecar) -> None:
    assert http_json("POST", state(sidecar, "/transaction"), {"operations": []}) == (204, None)
    status, body = http_json("POST", state(sidecar, "/transaction"),
                             {"operations": [{"operation": "merge", "request": {"key": "k"}}]})
    assert status == 400 and body["errorCode"] == "ERR_NOT_SUPPORTED_STATE_OPERATION"
    status, body = http_json("POST", state(sidecar, "/transaction"),
                             {"operations": [{"operation": "upsert", "request": {"key": "a||b", "value": 1}}]})
    assert status == 400 and body["errorCode"] == "ERR_MALFORMED_REQUEST"


def test_ttl_expires_a_key_and_is_reported(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1, "metadata": {"ttlInSeconds": "1"}}])
    status, headers, _ = get(sidecar, key)
    assert status == 200 and "metadata.ttlexpiretime" in headers
    time.sleep(1.3)
    assert get(sidecar, key)[0] == 204


def test_ttl_from_query_metadata_and_minus_one_persists(sidecar: Sidecar, key: str) -> None:
    save(sidecar, [{"key": key, "value": 1}], query="?metadata.ttlInSeconds=1")
    save(sidecar, [{"key": key, "value": 2, "metadata": {"ttlInSeconds": "-1"}}])
    time.sleep(1.3)
    status, headers, body = get(sidecar, key)
    assert (status, body) == (200, b"2") and "metadata.ttlexpiretime" not in headers


def test_a_non_integer_ttl_is_refused(sidecar: Sidecar, key: str) -> None:
    status, body = save(sidecar, [{"key": key, "value": 1, "metadata": {"ttlInSeconds": "soon"}}])
    assert status == 500 and "ttlInSeconds" in body["message"]


def test_no_state_store_configured_is_500(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd({})
    status, body = http_json("POST", f"{sidecar.url}/v1.0/state/statestore", [{"key": "k", "value": 1}])
    assert status == 500 and body["errorCode"] == "ERR_STATE_STORE_NOT_CONFIGURED"


@pytest.mark.parametrize("prefix,stored", [
    (None, "prefixapp||k"), ("appid", "prefixapp||k"), ("name", "store||k"),
    ("none", "k"), ("MyPrefix", "myprefix||k"),
])
def test_key_prefix_strategies(tandemd, tmp_path: Path, prefix: str | None, stored: str) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "prefix.db"
    metadata = {"connectionString": str(db)} | ({"keyPrefix": prefix} if prefix else {})
    sidecar = tandemd({"store": {"type": "state.sqlite", "metadata": metadata}}, app_id="prefixapp")
    http_json("POST", f"{sidecar.url}/v1.0/state/store", [{"key": "k", "value": 1}])
    with sqlite3.connect(db) as conn:
        assert [row[0] for row in conn.execute("SELECT key FROM state")] == [stored]
    status, items = http_json("POST", f"{sidecar.url}/v1.0/state/store/bulk", {"keys": ["k"]})
    assert items[0]["key"] == "k" and items[0]["data"] == 1


def test_namespace_prefix_uses_the_namespace_env(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "ns.db"
    sidecar = tandemd({"store": {"type": "state.sqlite",
                                 "metadata": {"connectionString": str(db), "keyPrefix": "namespace"}}},
                      app_id="nsapp", env={"NAMESPACE": "prod"})
    http_json("POST", f"{sidecar.url}/v1.0/state/store", [{"key": "k", "value": 1}])
    with sqlite3.connect(db) as conn:
        assert [row[0] for row in conn.execute("SELECT key FROM state")] == ["prod.nsapp||k"]


def test_two_apps_sharing_a_file_do_not_see_each_others_keys(tandemd, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = {"store": {"type": "state.sqlite", "metadata": {"connectionString": str(tmp_path / "s.db")}}}
    one, two = tandemd(store, app_id="one"), tandemd(store, app_id="two")
    http_json("POST", f"{one.url}/v1.0/state/store", [{"key": "k", "value": "from one"}])
    assert http("GET", f"{two.url}/v1.0/state/store/k")[0] == 204
    assert http("GET", f"{one.url}/v1.0/state/store/k")[2] == b'"from one"'
