"""The internal hop's secret: made private and once, checked before anything else, never passed on."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from tandem.sidecar import instances
from tandem.sidecar.internal_auth import (
    HEADER,
    RequireInternalSecret,
    SecretError,
    machine_secret,
    resolve_secret,
)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask: whatever is private must be made so by the code, not by the umask."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_the_secret_is_made_private_once_and_kept(tmp_path: Path, open_umask: None) -> None:
    home = tmp_path / "home"
    secret = machine_secret(home)
    assert len(secret) >= 32
    assert mode(home / "private") == 0o700
    assert mode(home / "private" / "internal-secret") == 0o600
    assert machine_secret(home) == secret
    assert os.listdir(home / "private") == ["internal-secret"]  # no temporary file left behind


def test_sidecars_starting_together_agree_on_one_secret(tmp_path: Path) -> None:
    code = "import sys; from pathlib import Path; from tandem.sidecar.internal_auth import machine_secret; " \
           "print(machine_secret(Path(sys.argv[1])))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "home")], stdout=subprocess.PIPE)
             for _ in range(6)]
    found = {proc.communicate(timeout=60)[0].strip() for proc in procs}
    assert len(found) == 1 and all(proc.returncode == 0 for proc in procs)


def test_a_loose_private_folder_is_narrowed_and_a_readable_secret_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    machine_secret(home)
    os.chmod(home / "private", 0o755)
    machine_secret(home)
    assert mode(home / "private") == 0o700
    os.chmod(home / "private" / "internal-secret", 0o644)
    with pytest.raises(SecretError, match="may be read by other users"):
        machine_secret(home)


def test_a_private_folder_that_is_a_link_is_refused(tmp_path: Path) -> None:
    home, elsewhere = tmp_path / "home", tmp_path / "elsewhere"
    home.mkdir()
    elsewhere.mkdir()
    os.symlink(elsewhere, home / "private")
    with pytest.raises(SecretError, match="must be a folder"):
        machine_secret(home)
    assert not list(elsewhere.iterdir())


def test_an_explicit_secret_wins(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert resolve_secret(home, "shared-by-every-host-0123") == "shared-by-every-host-0123"
    (tmp_path / "file").write_text("from-a-file-0123456789\n")
    assert resolve_secret(home, "shared-by-every-host-0123", tmp_path / "file") == "from-a-file-0123456789"
    assert not (home / "private").exists()
    with pytest.raises(SecretError, match="at least 16"):
        resolve_secret(home, "short")
    with pytest.raises(SecretError, match="cannot be read"):
        resolve_secret(home, None, tmp_path / "missing")


def test_run_files_are_not_world_readable(tmp_path: Path, open_umask: None) -> None:
    run = tmp_path / "home" / "run"
    path = instances.register(run, instances.Instance(app_id="a", pid=os.getpid(), http_port=1, internal_port=2))
    assert mode(run) == 0o700 and mode(path) == 0o600
    assert json.loads(path.read_text())["internal_port"] == 2
    os.chmod(run, 0o755)
    instances.register(run, instances.Instance(app_id="a", pid=os.getpid(), http_port=1))
    assert mode(run) == 0o700


# -- the check on the internal port ---------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.seen: list[dict[bytes, bytes]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.seen.append(dict(scope["headers"]))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"app"})


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.parametrize("headers,status,code", [
    ([], 401, "ERR_UNAUTHENTICATED"),
    ([(HEADER, "wrong-secret-0123456789")], 403, "ERR_PERMISSION_DENIED"),
    ([(HEADER, "")], 403, "ERR_PERMISSION_DENIED"),
    ([(HEADER, "the-right-secret-0123"), (HEADER, "the-right-secret-0123")], 403, "ERR_PERMISSION_DENIED"),
])
async def test_a_call_without_the_secret_never_reaches_the_app(
        anyio_backend: str, headers: list[tuple[str, str]], status: int, code: str) -> None:
    app = Recorder()
    transport = httpx.ASGITransport(app=RequireInternalSecret(app, "the-right-secret-0123"))
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        reply = await client.post("/neworder", content=b"{}",
                                  headers=[("dapr-caller-app-id", "forged"), *headers])
    assert reply.status_code == status and reply.json()["errorCode"] == code
    assert "the-right-secret" not in reply.text
    assert app.seen == []


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_right_secret_passes_and_is_not_passed_on(anyio_backend: str) -> None:
    app = Recorder()
    transport = httpx.ASGITransport(app=RequireInternalSecret(app, "the-right-secret-0123"))
    async with httpx.AsyncClient(transport=transport, base_url="http://sidecar") as client:
        reply = await client.post("/neworder", headers={HEADER: "the-right-secret-0123", "x-kept": "1"})
    assert reply.status_code == 200 and reply.text == "app"
    assert app.seen[0][b"x-kept"] == b"1" and HEADER.encode() not in app.seen[0]


def test_the_app_record_beside_a_sidecar_is_not_world_readable(tmp_path: Path, open_umask: None) -> None:
    run = tmp_path / "home" / "run"
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        path = instances.record_app(run, sidecar_pid=os.getpid(), app_pid=child.pid)
        assert mode(run) == 0o700 and mode(path) == 0o600
        recorded = instances.recorded_app(run, os.getpid())
        assert recorded is not None and recorded.pid == child.pid
    finally:
        child.kill()
        child.wait()
