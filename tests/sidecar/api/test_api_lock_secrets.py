"""Locks and secrets on the in-process sidecar."""
from __future__ import annotations

import pytest

from tandem.sidecar.testing import InProcessSidecar

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_lock_is_held_by_one_owner_until_it_unlocks() -> None:
    lock = {"resourceId": "r", "lockOwner": "a", "expiryInSeconds": 60}
    async with InProcessSidecar(components={"locks": "lock.in-memory"}) as sidecar, sidecar.http() as http:
        assert (await http.post("/v1.0-alpha1/lock/locks", json=lock)).json() == {"success": True}
        taken = await http.post("/v1.0-alpha1/lock/locks", json={**lock, "lockOwner": "b"})
        assert taken.json() == {"success": False}
        unlocked = await http.post("/v1.0-alpha1/unlock/locks", json={"resourceId": "r", "lockOwner": "a"})
        assert unlocked.json() == {"status": 0}


async def test_a_secret_is_read_from_an_env_store_and_scopes_apply(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOP_DB_PASSWORD", "s3cret")
    monkeypatch.setenv("SHOP_ROOT_KEY", "hidden")
    configuration = """\
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata: {name: config}
spec:
  secrets:
    scopes:
      - {storeName: env, defaultAccess: allow, deniedSecrets: [ROOT_KEY]}
"""
    env = {"env": {"type": "secretstores.local.env", "metadata": {"prefix": "SHOP_"}}}
    async with InProcessSidecar(components=env, configuration=configuration) as sidecar, sidecar.http() as http:
        assert (await http.get("/v1.0/secrets/env/DB_PASSWORD")).json() == {"DB_PASSWORD": "s3cret"}
        denied = await http.get("/v1.0/secrets/env/ROOT_KEY")
    assert denied.status_code == 403 and denied.json()["errorCode"] == "ERR_PERMISSION_DENIED"
