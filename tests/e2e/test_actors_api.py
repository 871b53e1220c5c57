"""The actor API of a real tandemd against a plain app written to Dapr's contract (spec §5)."""
from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from actor_support import StartHost

from support import http, http_json, wait_until

pytestmark = pytest.mark.e2e


def test_concurrent_calls_to_one_actor_take_turns_and_the_counter_is_exact(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    with ThreadPoolExecutor(max_workers=32) as pool:
        results = list(pool.map(lambda _: host.call("Counter", "one", "increment", 1), range(200)))
    assert all(status == 200 for status, _ in results), results[:5]
    assert sorted(count for _, count in results) == list(range(1, 201))  # each turn saw the previous one's save
    assert host.stats()["overlaps"] == []
    status, _, body = http("GET", host.url + "/v1.0/actors/Counter/one/state/count")
    assert (status, json.loads(body)) == (200, 200)


def test_calls_to_different_actors_run_in_parallel(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    with ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(lambda i: host.call("Counter", f"p{i}", "slow"), range(10)))
    assert all(status == 200 for status, _ in results)
    assert host.stats()["max_concurrent"] >= 5


def test_any_verb_reaches_the_app_as_put_with_dapr_api_call(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    for verb in ("GET", "POST", "DELETE"):
        status, _, body = http(verb, f"{host.url}/v1.0/actors/Counter/v/method/echo", b"hi" if verb == "POST" else None,
                               headers={"traceparent": f"00-{trace}-00f067aa0ba902b7-01"})
        assert status == 200, body
        seen = json.loads(body)
        assert seen["headers"]["dapr-api-call"] == "true"
        # the caller's trace goes on into the actor, under a new span of the sidecar's
        assert seen["headers"]["traceparent"].split("-")[1] == trace
        assert seen["headers"]["traceparent"].split("-")[2] != "00f067aa0ba902b7"


def test_app_errors_are_reported_as_dapr_does(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    status, doc = host.call("Counter", "e", "fail")
    assert status == 500
    assert doc == {"errorCode": "ERR_ACTOR_INVOKE_METHOD",
                   "message": "error invoke actor method: error from actor service: (500) it broke"}
    status, headers, body = http("PUT", f"{host.url}/v1.0/actors/Counter/e/method/fail",
                                 headers={"x-with-header": "1"})
    assert (status, body, headers.get("x-daprerrorresponseheader")) == (418, b"it broke", "yes")
    status, doc = host.call("Counter", "e", "no-such-method")
    assert status == 500 and "(404)" in doc["message"]


@pytest.mark.parametrize("path", [
    "/v1.0/actors/Counter/a%23b/method/echo", "/v1.0/actors/Counter/../method/echo",
    "/v1.0/actors/Counter/a%3Fb/method/echo", "/v1.0/actors/Counter/a%01b/method/echo",
])
def test_bad_actor_ids_are_refused(actor_host: StartHost, path: str) -> None:
    host = actor_host({"entities": ["Counter"]})
    status, _, body = http("PUT", host.url + path)
    assert status in (400, 404), body
    if status == 400:
        assert json.loads(body)["errorCode"] == "ERR_BAD_REQUEST"


def test_state_needs_an_active_actor_and_round_trips(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    ops = [{"operation": "upsert", "request": {"key": "k", "value": {"a": 1}}}]
    status, doc = http_json("POST", host.url + "/v1.0/actors/Counter/s1/state", ops)
    assert (status, doc["errorCode"]) == (400, "ERR_ACTOR_INSTANCE_MISSING")
    assert host.call("Counter", "s1", "whoami")[0] == 200
    for verb in ("POST", "PUT"):
        assert http_json(verb, host.url + "/v1.0/actors/Counter/s1/state", ops)[0] == 204
    status, headers, body = http("GET", host.url + "/v1.0/actors/Counter/s1/state/k")
    assert (status, json.loads(body), headers["content-type"]) == (200, {"a": 1}, "application/json")
    delete = [{"operation": "delete", "request": {"key": "k"}}]
    assert http_json("PUT", host.url + "/v1.0/actors/Counter/s1/state", delete)[0] == 204
    assert http("GET", host.url + "/v1.0/actors/Counter/s1/state/k")[0] == 204
    status, doc = http_json("PUT", host.url + "/v1.0/actors/Counter/s1/state", {"not": "a list"})
    assert (status, doc["errorCode"]) == (400, "ERR_MALFORMED_REQUEST")


def test_state_uses_daprs_key_scheme(actor_host: StartHost, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    db = tmp_path / "keys.db"
    host = actor_host({"entities": ["Counter"]}, app_id="bank", db=db)
    assert host.call("Counter", "acct", "increment", 7) == (200, 7)
    with sqlite3.connect(db) as conn:
        keys = [row[0] for row in conn.execute("SELECT key FROM state")]
    assert "bank||Counter||acct||count" in keys


def test_reminders_are_for_hosted_types_and_validated(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    status, doc = http_json("POST", host.url + "/v1.0/actors/Other/x/reminders/r", {"dueTime": "1s"})
    assert (status, doc["errorCode"]) == (403, "ERR_ACTOR_REMINDER_NON_HOSTED")
    status, doc = http_json("POST", host.url + "/v1.0/actors/Counter/x/reminders/r", {"dueTime": "soon"})
    assert status == 400 and "soon" in doc["message"]
    status, doc = http_json("POST", host.url + "/v1.0/actors/Counter/x/reminders/r", {"period": "R0/PT1S"})
    assert status == 400
    assert http_json("PUT", host.url + "/v1.0/actors/Counter/x/reminders/r",
                     {"dueTime": "1h", "period": "PT1H", "ttl": "2h", "data": "hello"})[0] == 204
    status, doc = http_json("GET", host.url + "/v1.0/actors/Counter/x/reminders/r")
    assert status == 200
    assert {k: doc[k] for k in ("actorID", "actorType", "name", "dueTime", "period", "data")} == {
        "actorID": "x", "actorType": "Counter", "name": "r", "dueTime": "1h", "period": "PT1H", "data": "hello"}
    assert "registeredTime" in doc and "expirationTime" in doc
    assert http("DELETE", host.url + "/v1.0/actors/Counter/x/reminders/r")[0] == 204
    assert http_json("GET", host.url + "/v1.0/actors/Counter/x/reminders/r")[0] == 404


def test_a_timer_needs_an_active_actor(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    status, doc = http_json("POST", host.url + "/v1.0/actors/Counter/t/timers/tick", {"dueTime": "1s"})
    assert (status, doc["errorCode"]) == (400, "ERR_ACTOR_INSTANCE_MISSING")


def test_metadata_lists_active_actors(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter", "Other"]})
    for i in range(3):
        host.call("Counter", f"m{i}", "whoami")
    _, doc = http_json("GET", host.url + "/v1.0/metadata")
    assert {"type": "Counter", "count": 3} in doc["actors"]
    assert {"type": "Other", "count": 0} in doc["actorRuntime"]["activeActors"]


def test_an_actor_type_nobody_hosts_fails_clearly(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    started = time.monotonic()
    status, doc = host.call("Nobody", "x", "m")
    assert status == 500 and doc["errorCode"] == "ERR_ACTOR_INVOKE_METHOD"
    assert "Nobody/x" in doc["message"]
    assert time.monotonic() - started < 15


def test_actor_metrics_count_activations_and_calls(actor_host: StartHost) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    from support import free_port

    metrics_port = free_port()
    host = actor_host({"entities": ["Counter"], "actorIdleTimeout": "1s"},
                      args=("--metrics-port", str(metrics_port)))
    for i in range(4):
        assert host.call("Counter", f"met-{i}", "whoami")[0] == 200
    wait_until(lambda: len(host.stats()["deactivations"]) == 4, "the idle actors to be deactivated")

    def sample(name: str) -> float:
        _, _, body = http("GET", f"http://127.0.0.1:{metrics_port}/metrics")
        for family in text_string_to_metric_families(body.decode()):
            for s in family.samples:
                if s.name == name and s.labels.get("actor_type") == "Counter":
                    return float(s.value)
        return 0.0

    assert sample("dapr_runtime_actor_activated_total") == 4
    assert sample("dapr_runtime_actor_deactivated_total") == 4
    assert sample("dapr_runtime_actor_pending_actor_calls") == 0
