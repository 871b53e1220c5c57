"""Actors on Redis: two sidecars with separate homes share placement through ``placement.redis``."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from redis_helpers import Tandemd, http, redis_host, start_tandemd

pytestmark = pytest.mark.e2e

ACTOR_APP = Path(__file__).resolve().parents[3] / "tests" / "apps" / "actor_app.py"
STATESTORE = f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.redis
  version: v1
  metadata:
  - name: redisHost
    value: {redis_host()}
  - name: actorStateStore
    value: "true"
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Cluster:
    app_id: str
    actor_type: str
    sidecars: list[Tandemd]


@pytest.fixture
def cluster(tmp_path: Path, shared_redis: redis.Redis) -> Iterator[Cluster]:
    """Two actor hosts of one app id, each with its own TANDEM_HOME: they share nothing but Redis (and the
    internal secret, as sidecars on two machines must)."""
    shared = {"TANDEM_INTERNAL_SECRET": f"cluster-{uuid.uuid4().hex}"}
    found = Cluster(f"redis-actors-{uuid.uuid4().hex[:8]}", f"Counter{uuid.uuid4().hex[:8]}", [])
    apps: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(2):
            base = tmp_path / f"host-{n}"
            base.mkdir()
            app_port, http_port = _free_port(), _free_port()
            apps.append(subprocess.Popen([sys.executable, str(ACTOR_APP), str(app_port), str(http_port),
                                          json.dumps({"entities": [found.actor_type]})]))
            found.sidecars.append(start_tandemd(
                base, found.app_id, STATESTORE,
                args=("--dapr-http-port", str(http_port), "--app-port", str(app_port)), env=shared))
        yield found
    finally:
        for sidecar in found.sidecars:
            sidecar.stop()
        for app in apps:
            app.terminate()
            app.wait(10)
        for key in shared_redis.scan_iter(match=f"{found.app_id}||*", count=1000):
            shared_redis.delete(key)


def test_two_sidecars_split_the_ids_and_keep_state_in_daprs_layout(cluster: Cluster,
                                                                   shared_redis: redis.Redis) -> None:
    a, b = cluster.sidecars
    base = f"/v1.0/actors/{cluster.actor_type}"
    pids: dict[str, int] = {}
    deadline = time.monotonic() + 30
    while len(set(pids.values())) < 2 and time.monotonic() < deadline:  # until each has seen the other join
        for i in range(60):
            status, _, body = http("PUT", f"{(a, b)[i % 2].url}{base}/id-{i}/method/whoami")
            assert status == 200, body
            pids[f"id-{i}"] = json.loads(body)
        time.sleep(0.2)
    assert len(set(pids.values())) == 2, "the ids did not spread over both hosts"
    status, _, body = http("PUT", f"{b.url}{base}/id-1/method/increment", 3)
    assert (status, json.loads(body)) == (200, 3)
    assert shared_redis.hget(f"{cluster.app_id}||{cluster.actor_type}||id-1||count", "data") == b"3"
    assert shared_redis.hlen("tandem||placement||||hosts") >= 2
