"""Actor runtime behaviour across real processes: reentrancy, timers, reminders, idle deactivation."""
from __future__ import annotations

import json
import time

import pytest
from actor_support import StartHost

from support import http, http_json, wait_until

pytestmark = pytest.mark.e2e

REENTRANT = {"entities": ["A", "B"], "reentrancy": {"enabled": True, "maxStackDepth": 32}}


def _a_calls_b_calls_a(timeout: float = 30) -> dict[str, object]:
    inner = {"type": "A", "id": "a1", "method": "whoami"}
    return {"type": "B", "id": "b1", "method": "call", "body": {**inner, "timeout": timeout}}


def test_reentrant_call_chain_a_b_a_succeeds(actor_host: StartHost) -> None:
    host = actor_host(REENTRANT)
    status, doc = host.call("A", "a1", "call", _a_calls_b_calls_a())
    assert status == 200, doc
    inner = json.loads(doc["body"])
    assert inner["status"] == 200 and json.loads(inner["body"]) == host.stats()["pid"]


def test_without_reentrancy_the_nested_call_is_queued_behind_the_turn(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["A", "B"]})
    status, doc = host.call("A", "a1", "call", _a_calls_b_calls_a(timeout=1.5))
    assert status == 200
    # B's call back into A waited for A's turn, which was waiting for B: it timed out in B.
    assert json.loads(doc["body"]) == {"status": "timeout"}


def test_reentrancy_stack_depth_is_limited(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["A", "B"], "reentrancy": {"enabled": True, "maxStackDepth": 1}})
    status, doc = host.call("A", "a1", "call", _a_calls_b_calls_a())
    inner = json.loads(doc["body"])
    assert inner["status"] == 500
    assert json.loads(inner["body"])["errorCode"] == "ERR_ACTOR_STACK_DEPTH"


def _fires(host, kind: str, name: str) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    return [f for f in host.stats()["fires"] if f["kind"] == kind and f["name"] == name]


def test_one_shot_reminder_fires_once_with_its_data(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    assert http_json("POST", host.url + "/v1.0/actors/Counter/r/reminders/once",
                     {"dueTime": "0.2s", "data": {"n": 1}})[0] == 204
    wait_until(lambda: _fires(host, "remind", "once"), "the reminder to fire")
    time.sleep(1.0)
    fires = _fires(host, "remind", "once")
    assert len(fires) == 1
    assert fires[0]["body"] == {"data": {"n": 1}, "dueTime": "0.2s", "period": ""}
    assert http_json("GET", host.url + "/v1.0/actors/Counter/r/reminders/once")[0] == 404


def test_iso_repetitions_stop_after_n(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    assert http_json("POST", host.url + "/v1.0/actors/Counter/r/reminders/three",
                     {"dueTime": "0s", "period": "R3/PT0.3S"})[0] == 204
    wait_until(lambda: len(_fires(host, "remind", "three")) >= 3, "three fires")
    time.sleep(1.0)
    assert len(_fires(host, "remind", "three")) == 3


def test_reminder_cancel_header_deletes_it(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    assert http_json("POST", host.url + "/v1.0/actors/Counter/r/reminders/cancel-me",
                     {"dueTime": "0s", "period": "0.3s"})[0] == 204
    wait_until(lambda: _fires(host, "remind", "cancel-me"), "the reminder to fire")
    wait_until(lambda: http_json("GET", host.url + "/v1.0/actors/Counter/r/reminders/cancel-me")[0] == 404,
             "the reminder to be deleted")
    time.sleep(1.0)
    assert len(_fires(host, "remind", "cancel-me")) == 1


def test_a_reminder_survives_the_sidecar_being_killed(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    assert http_json("POST", host.url + "/v1.0/actors/Counter/d/reminders/durable",
                     {"dueTime": "0s", "period": "0.5s"})[0] == 204
    wait_until(lambda: len(_fires(host, "remind", "durable")) >= 2, "the reminder to fire")
    host.restart_sidecar()  # SIGKILL, then a new tandemd on the same files
    after_restart = len(_fires(host, "remind", "durable"))
    wait_until(lambda: len(_fires(host, "remind", "durable")) >= after_restart + 2,
             "the reminder to fire again after the restart")
    assert http("DELETE", host.url + "/v1.0/actors/Counter/d/reminders/durable")[0] == 204


def test_idle_actor_is_deactivated_and_its_timer_stops(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"], "actorIdleTimeout": "0h0m1s0ms0μs"})
    assert host.call("Counter", "idle", "whoami")[0] == 200
    assert http_json("POST", host.url + "/v1.0/actors/Counter/idle/timers/tick",
                     {"dueTime": "0s", "period": "2.5s", "callback": "onTick", "data": "x"})[0] == 204
    wait_until(lambda: _fires(host, "timer", "tick"), "the timer to fire")
    assert _fires(host, "timer", "tick")[0]["body"] == {"callback": "onTick", "data": "x", "dueTime": "0s",
                                                        "period": "2.5s"}
    wait_until(lambda: "Counter/idle" in host.stats()["deactivations"], "the idle actor to be deactivated")
    time.sleep(3.0)  # past the timer's next period
    assert len(_fires(host, "timer", "tick")) == 1
    _, doc = http_json("GET", host.url + "/v1.0/metadata")
    assert {"type": "Counter", "count": 0} in doc["actors"]


def test_timer_cancel_header_and_delete_stop_it(actor_host: StartHost) -> None:
    host = actor_host({"entities": ["Counter"]})
    assert host.call("Counter", "t", "whoami")[0] == 200
    assert http_json("POST", host.url + "/v1.0/actors/Counter/t/timers/cancel-t",
                     {"dueTime": "0s", "period": "0.2s"})[0] == 204
    assert http_json("POST", host.url + "/v1.0/actors/Counter/t/timers/plain",
                     {"dueTime": "0s", "period": "0.2s"})[0] == 204
    wait_until(lambda: len(_fires(host, "timer", "plain")) >= 2, "the timer to fire twice")
    assert http("DELETE", host.url + "/v1.0/actors/Counter/t/timers/plain")[0] == 204
    stopped = len(_fires(host, "timer", "plain"))
    time.sleep(1.0)
    assert len(_fires(host, "timer", "plain")) <= stopped + 1  # one fire may have been in flight
    assert len(_fires(host, "timer", "cancel-t")) == 1


def test_shutdown_drains_calls_in_flight_and_deactivates_every_actor(actor_host: StartHost) -> None:
    import signal
    import threading

    host = actor_host({"entities": ["Counter"]})
    for i in range(3):
        assert host.call("Counter", f"d{i}", "whoami")[0] == 200
    slow: list[tuple[int, object]] = []
    caller = threading.Thread(target=lambda: slow.append(host.call("Counter", "d0", "slow")))
    caller.start()
    wait_until(lambda: host.stats()["inflight"].get("Counter/d0"), "the slow call to reach the app")
    assert host.sidecar.stop(signal.SIGTERM) == 0
    caller.join(10)
    assert slow == [(200, "done")]  # the call in flight finished
    assert sorted(host.stats()["deactivations"]) == ["Counter/d0", "Counter/d1", "Counter/d2"]


def test_each_reminder_is_its_own_record(actor_host: StartHost, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import sqlite3

    db = tmp_path / "reminders.db"
    host = actor_host({"entities": ["Counter"]}, db=db)
    for i in range(20):
        assert http_json("PUT", f"{host.url}/v1.0/actors/Counter/c{i % 4}/reminders/r{i}", {"dueTime": "1h"})[0] == 204
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT actor_id, name FROM tandem_actor_reminders").fetchall()
    assert len(rows) == 20  # one row each: creating one never rewrites the others


def test_a_timer_and_a_reminder_with_the_same_schedule_fire_as_often(actor_host: StartHost) -> None:
    """Dapr's rule for both: a tick fires only if it falls strictly before the ttl's end (here 0 s and 2 s, not 4 s)."""
    host = actor_host({"entities": ["Counter"]})
    assert host.call("Counter", "same", "whoami")[0] == 200
    schedule = {"dueTime": "0s", "period": "2s", "ttl": "4s"}
    started = time.monotonic()
    assert http_json("POST", host.url + "/v1.0/actors/Counter/same/timers/tick", schedule)[0] == 204
    assert http_json("POST", host.url + "/v1.0/actors/Counter/same/reminders/tick", schedule)[0] == 204
    # A ttl ending at the first tick: nothing fires, timer or reminder.
    dead = {"dueTime": "1s", "period": "1s", "ttl": "0s"}
    assert http_json("POST", host.url + "/v1.0/actors/Counter/same/timers/dead", dead)[0] == 204
    assert http_json("POST", host.url + "/v1.0/actors/Counter/same/reminders/dead", dead)[0] == 204
    for name in ("tick", "dead"):
        wait_until(lambda: http_json("GET", f"{host.url}/v1.0/actors/Counter/same/reminders/{name}")[0] == 404,
                   f"reminder {name} to end", timeout=60)
    # Past the ttl's end nothing can fire any more, under any rule: count then.
    wait_until(lambda: time.monotonic() - started > 4.5, "the ttl to be over", timeout=60)
    assert len(_fires(host, "timer", "tick")) == len(_fires(host, "remind", "tick")) == 2
    assert len(_fires(host, "timer", "dead")) == len(_fires(host, "remind", "dead")) == 0
