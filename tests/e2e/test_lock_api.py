"""The distributed-lock API (spec §6.5) through a real ``tandemd``, on ``lock.in-memory``."""
from __future__ import annotations

import time

import pytest

from support import http_json

pytestmark = pytest.mark.e2e


def test_lock_and_unlock(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd({"lockstore": "lock.in-memory"})
    lock, unlock = f"{sidecar.url}/v1.0-alpha1/lock/lockstore", f"{sidecar.url}/v1.0-alpha1/unlock/lockstore"
    assert http_json("POST", lock, {"resourceId": "r", "lockOwner": "a", "expiryInSeconds": 10}) == (
        200, {"success": True})
    assert http_json("POST", lock, {"resourceId": "r", "lockOwner": "b", "expiryInSeconds": 10}) == (
        200, {"success": False})
    assert http_json("POST", unlock, {"resourceId": "r", "lockOwner": "b"}) == (200, {"status": 2})
    assert http_json("POST", unlock, {"resource_id": "r", "lock_owner": "a"}) == (200, {"status": 0})
    assert http_json("POST", unlock, {"resourceId": "r", "lockOwner": "a"}) == (200, {"status": 1})
    assert http_json("POST", lock, {"resourceId": "e", "lockOwner": "a", "expiryInSeconds": 1})[1]["success"]
    time.sleep(1.1)
    assert http_json("POST", lock, {"resourceId": "e", "lockOwner": "b", "expiryInSeconds": 1})[1]["success"]


@pytest.mark.parametrize("body,problem", [
    ({"lockOwner": "a", "expiryInSeconds": 1}, "ResourceId"),
    ({"resourceId": "r", "expiryInSeconds": 1}, "LockOwner"),
    ({"resourceId": "r", "lockOwner": "a", "expiryInSeconds": 0}, "ExpiryInSeconds"),
    ({"resourceId": "r", "lockOwner": "a", "expiryInSeconds": "ten"}, "expiryInSeconds"),
])
def test_bad_lock_requests_are_400(tandemd, body: dict, problem: str) -> None:  # type: ignore[no-untyped-def,type-arg]
    sidecar = tandemd({"lockstore": "lock.in-memory"})
    status, reply = http_json("POST", f"{sidecar.url}/v1.0-alpha1/lock/lockstore", body)
    assert status == 400 and problem in reply["message"]


def test_unknown_and_unconfigured_lock_stores(tandemd) -> None:  # type: ignore[no-untyped-def]
    sidecar = tandemd({"lockstore": "lock.in-memory"})
    body = {"resourceId": "r", "lockOwner": "a", "expiryInSeconds": 1}
    status, reply = http_json("POST", f"{sidecar.url}/v1.0-alpha1/lock/nope", body)
    assert status == 400 and reply["errorCode"] == "ERR_LOCK_STORE_NOT_FOUND"
    bare = tandemd({})
    status, reply = http_json("POST", f"{bare.url}/v1.0-alpha1/lock/lockstore", body)
    assert status == 500 and reply["errorCode"] == "ERR_LOCK_STORE_NOT_CONFIGURED"
