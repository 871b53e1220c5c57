"""The built-in bindings: cron schedule forms and ticking, localstorage paths and round trip, http against a server."""
from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from collections.abc import AsyncIterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tandem.sidecar.components.base import ComponentMetadata, MetadataError
from tandem.sidecar.components.bindings import (
    BindingError,
    BindingEvent,
    InputBinding,
    InvokeRequest,
    OutputBinding,
)
from tandem.sidecar.drivers.cron_binding import CronBinding, go_time_string, parse_schedule
from tandem.sidecar.drivers.http_binding import HttpBinding, canonical_header
from tandem.sidecar.drivers.localstorage_binding import LocalStorageBinding, decode_create_data
from tandem.sidecar.plugins import component_registry, plugin_manager

pytestmark = pytest.mark.anyio

GO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{1,9})? \+0000 UTC$")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def meta(ctype: str, **properties: str) -> ComponentMetadata:
    return ComponentMetadata(name="b", type=ctype, properties=properties, app_id="app")


def epoch(*args: int, tz: timezone = timezone.utc) -> float:
    return datetime(*args, tzinfo=tz).timestamp()  # type: ignore[misc]


def test_registered_as_builtins() -> None:
    registry = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))
    kinds = {t: registry.lookup(t, "v1").create() for t in ("bindings.cron", "bindings.http", "bindings.localstorage")}
    assert isinstance(kinds["bindings.cron"], InputBinding)
    assert kinds["bindings.cron"].features() == {"INPUT_BINDING"}
    assert isinstance(kinds["bindings.http"], OutputBinding)
    assert kinds["bindings.localstorage"].features() == {"OUTPUT_BINDING"}


# -- cron: schedule forms -----------------------------------------------------------------

NOON_UTC = epoch(2026, 3, 4, 12, 0, 0)  # a Wednesday


@pytest.mark.parametrize(("spec", "after", "expected"), [
    ("CRON_TZ=UTC */5 * * * *", NOON_UTC, epoch(2026, 3, 4, 12, 5, 0)),          # 5 fields: minutes
    ("CRON_TZ=UTC */10 * * * * *", NOON_UTC + 1, epoch(2026, 3, 4, 12, 0, 10)),  # 6 fields: seconds first
    ("CRON_TZ=UTC 30 15 * * * *", NOON_UTC, epoch(2026, 3, 4, 12, 15, 30)),
    ("CRON_TZ=UTC 0 9 * * MON-FRI", NOON_UTC, epoch(2026, 3, 5, 9, 0, 0)),
    ("CRON_TZ=UTC 0 0 1 * ?", NOON_UTC, epoch(2026, 4, 1, 0, 0, 0)),
    ("CRON_TZ=UTC @hourly", NOON_UTC, epoch(2026, 3, 4, 13, 0, 0)),
    ("CRON_TZ=UTC @daily", NOON_UTC, epoch(2026, 3, 5, 0, 0, 0)),
    ("TZ=UTC @midnight", NOON_UTC, epoch(2026, 3, 5, 0, 0, 0)),
    ("CRON_TZ=UTC @weekly", NOON_UTC, epoch(2026, 3, 8, 0, 0, 0)),
    ("CRON_TZ=UTC @monthly", NOON_UTC, epoch(2026, 4, 1, 0, 0, 0)),
    ("CRON_TZ=UTC @yearly", NOON_UTC, epoch(2027, 1, 1, 0, 0, 0)),
    ("CRON_TZ=UTC @annually", NOON_UTC, epoch(2027, 1, 1, 0, 0, 0)),
    ("CRON_TZ=Asia/Tokyo 0 9 * * *", NOON_UTC, epoch(2026, 3, 5, 0, 0, 0)),       # 09:00 JST = 00:00 UTC
    ("CRON_TZ=America/New_York 0 9 * * *", NOON_UTC, epoch(2026, 3, 4, 14, 0, 0)),  # EST, UTC-5
    ("@every 15s", NOON_UTC + 0.7, NOON_UTC + 15),
    ("@every 1m30s", NOON_UTC, NOON_UTC + 90),
    ("@every 1500ms", NOON_UTC, NOON_UTC + 1),  # whole seconds, as robfig/cron rounds
    ("@every 10ms", NOON_UTC, NOON_UTC + 1),    # at least one second
])
def test_schedule_forms(spec: str, after: float, expected: float) -> None:
    assert parse_schedule(spec).next_after(after) == expected


def test_a_schedule_fires_strictly_after_a_matching_moment() -> None:
    schedule = parse_schedule("CRON_TZ=UTC 0 * * * *")
    assert schedule.next_after(NOON_UTC) == NOON_UTC + 3600


def test_five_fields_run_in_local_time_without_a_zone() -> None:
    local_noon = datetime(2026, 3, 4, 12, 0, 0).timestamp()
    assert parse_schedule("0 13 * * *").next_after(local_noon) == datetime(2026, 3, 4, 13, 0, 0).timestamp()


@pytest.mark.parametrize("spec", [
    "", "* * * *", "* * * * * * *", "61 * * * *", "0 0 L * *", "0 0 1#2 * *", "H * * * *", "@fortnightly",
    "@every", "@every 5", "@every soon", "CRON_TZ=Nowhere/Land 0 * * * *", "CRON_TZ=UTC",
])
async def test_bad_schedules_stop_init(spec: str) -> None:
    with pytest.raises(MetadataError, match="schedule"):
        await CronBinding().init(meta("bindings.cron", schedule=spec))


def test_go_time_string() -> None:
    assert go_time_string(1_700_000_000_000_000_000) == "2023-11-14 22:13:20 +0000 UTC"
    assert go_time_string(1_700_000_000_120_000_000) == "2023-11-14 22:13:20.12 +0000 UTC"
    assert go_time_string(1_700_000_000_000_000_001) == "2023-11-14 22:13:20.000000001 +0000 UTC"


# -- cron: ticking ------------------------------------------------------------------------


async def test_every_second_ticks_with_daprs_metadata() -> None:
    cron = CronBinding()
    await cron.init(meta("bindings.cron", schedule="@every 1s"))
    events: list[tuple[float, BindingEvent]] = []

    async def handler(event: BindingEvent) -> bytes:
        events.append((time.time(), event))
        return b""

    await cron.read(handler)
    await asyncio.sleep(2.4)
    await cron.stop()
    count = len(events)
    await asyncio.sleep(1.2)
    await cron.close()
    assert count in (2, 3) and len(events) == count  # one per whole second; nothing after stop
    for fired, event in events:
        assert event.data == b""
        assert set(event.metadata) == {"timeZone", "readTimeUTC"}
        assert event.metadata["timeZone"] == "Local"
        assert GO_TIME.match(event.metadata["readTimeUTC"])
        assert fired - int(fired) < 0.2  # on whole seconds
    assert [round(b[0] - a[0]) for a, b in zip(events, events[1:], strict=False)] == [1] * (count - 1)


async def test_a_slow_handler_does_not_pile_up_ticks() -> None:
    cron = CronBinding()
    await cron.init(meta("bindings.cron", schedule="@every 1s"))
    running, most, calls = 0, 0, 0

    async def slow(event: BindingEvent) -> bytes:
        nonlocal running, most, calls
        running, calls = running + 1, calls + 1
        most = max(most, running)
        await asyncio.sleep(2.5)
        running -= 1
        return b""

    await cron.read(slow)
    await asyncio.sleep(4.2)
    await cron.close()
    assert most == 1
    assert calls == 2  # ticks at ~1 s and ~4 s; the ones due meanwhile were skipped


async def test_a_failing_handler_does_not_stop_the_schedule() -> None:
    cron = CronBinding()
    await cron.init(meta("bindings.cron", schedule="@every 1s"))
    calls = 0

    async def failing(event: BindingEvent) -> bytes:
        nonlocal calls
        calls += 1
        raise RuntimeError("app said 500")

    await cron.read(failing)
    await asyncio.sleep(2.3)
    await cron.close()
    assert calls in (2, 3)  # every whole second, failures or not


# -- localstorage -------------------------------------------------------------------------


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[LocalStorageBinding]:
    binding = LocalStorageBinding()
    await binding.init(meta("bindings.localstorage", rootPath=str(tmp_path / "root")))
    yield binding
    await binding.close()


async def call(binding: OutputBinding, operation: str, data: bytes = b"null", **metadata: str) -> Any:
    return await binding.invoke(InvokeRequest(operation, data, metadata))


async def test_localstorage_round_trip(storage: LocalStorageBinding, tmp_path: Path) -> None:
    root = tmp_path / "root"
    assert list(storage.operations()) == ["create", "get", "list", "delete"]
    created = await call(storage, "create", b'{"n":1}', fileName="reports/one.json")
    assert json.loads(created.data) == {"fileName": "reports/one.json"}
    assert (root / "reports" / "one.json").read_bytes() == b'{"n":1}'
    assert (await call(storage, "get", fileName="reports/one.json")).data == b'{"n":1}'

    generated = json.loads((await call(storage, "create", b'"Hello World"')).data)["fileName"]
    assert re.fullmatch(r"[0-9a-f-]{36}", generated)
    assert (root / generated).read_bytes() == b"Hello World"  # a JSON string is stored unquoted

    listed = json.loads((await call(storage, "list")).data)
    assert listed == sorted([str(root / generated), str(root / "reports" / "one.json")])
    assert json.loads((await call(storage, "list", fileName="reports")).data) == [str(root / "reports" / "one.json")]

    assert await call(storage, "delete", fileName="reports/one.json") is None
    assert not (root / "reports" / "one.json").exists()
    with pytest.raises(BindingError, match="file not found"):
        await call(storage, "get", fileName="reports/one.json")
    with pytest.raises(BindingError, match="error deleting file"):
        await call(storage, "delete", fileName="reports/one.json")


async def test_localstorage_decodes_like_dapr(storage: LocalStorageBinding, tmp_path: Path) -> None:
    payload = bytes(range(256))
    encoded = json.dumps(base64.b64encode(payload).decode()).encode()
    await call(storage, "create", encoded, fileName="bin")
    assert (tmp_path / "root" / "bin").read_bytes() == payload
    assert decode_create_data(b'"with \\"quotes\\" and \\u003c"') == b'with "quotes" and <'
    assert decode_create_data(b"[1,2]") == b"[1,2]"
    assert decode_create_data(b'"Hello World"') == b"Hello World"  # not base64: a space
    # Dapr's quirk, kept: any text that happens to be valid base64 is decoded ("test", or a missing data's null).
    assert decode_create_data(b'"test"') == base64.b64decode("test")
    assert decode_create_data(b"null") == base64.b64decode("null")


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "/tmp/elsewhere.txt",
                                  "..", "a/../.."])
async def test_localstorage_refuses_paths_outside_root(storage: LocalStorageBinding, name: str) -> None:
    for operation in ("create", "get", "delete", "list"):
        with pytest.raises(BindingError, match="outside rootPath"):
            await call(storage, operation, b'"x"', fileName=name)


async def test_localstorage_refuses_links_out_of_root(storage: LocalStorageBinding, tmp_path: Path) -> None:
    root, outside = tmp_path / "root", tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s3cret")
    os.symlink(outside, root / "door")
    os.symlink(outside / "secret", root / "secret-link")
    for name in ("door/secret", "door/new", "secret-link"):
        with pytest.raises(BindingError, match="outside rootPath"):
            await call(storage, "get", fileName=name)
        with pytest.raises(BindingError, match="outside rootPath"):
            await call(storage, "create", b'"overwritten"', fileName=name)
    assert (outside / "secret").read_text() == "s3cret" and not (outside / "new").exists()
    with pytest.raises(BindingError, match="outside rootPath"):
        await call(storage, "list", fileName="door")


async def test_localstorage_paths_inside_root(storage: LocalStorageBinding, tmp_path: Path) -> None:
    root = tmp_path / "root"
    await call(storage, "create", b'"x"', fileName="a/../b.txt")
    assert (root / "b.txt").read_bytes() == b"x"
    assert (await call(storage, "get", fileName=str(root / "b.txt"))).data == b"x"  # absolute, but inside
    os.symlink(root / "b.txt", root / "alias")
    assert (await call(storage, "get", fileName="alias")).data == b"x"  # a link that stays inside is fine
    with pytest.raises(BindingError, match="fileName is required"):
        await call(storage, "get")
    with pytest.raises(BindingError, match="rootPath itself"):
        await call(storage, "delete", fileName=".")
    with pytest.raises(BindingError, match="not a directory"):
        await call(storage, "list", fileName="b.txt")


async def test_localstorage_root_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "file").write_text("x")
    for root, problem in (("/proc/self", "disallowed"), (str(tmp_path / "file"), "not a directory"), ("", "required")):
        with pytest.raises(MetadataError, match=problem):
            await LocalStorageBinding().init(meta("bindings.localstorage", rootPath=root))
    relative = LocalStorageBinding()
    monkeypatch.chdir(tmp_path)
    await relative.init(meta("bindings.localstorage", rootPath="rel/files"))
    assert (tmp_path / "rel" / "files").is_dir()


# -- http ---------------------------------------------------------------------------------


class Target:
    """A local aiohttp server recording what the binding sends."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.url = ""

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.seen.append({"method": request.method, "path": request.path_qs, "headers": dict(request.headers),
                          "body": body})
        path = request.path.removeprefix("/api")
        if path.startswith("/status/"):
            return web.Response(status=int(path.rsplit("/", 1)[1]), text="nope", headers={"x-reason": "scripted"})
        if path == "/slow":
            await asyncio.sleep(2)
        if path == "/big":
            return web.Response(body=b"x" * 10_000)
        reply = web.Response(body=body or b"pong", headers={"x-multi": "a", "content-type": "text/plain"})
        reply.headers.add("X-Multi", "b")
        return reply


@pytest.fixture
async def target() -> AsyncIterator[Target]:
    server = Target()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    server.url = f"http://127.0.0.1:{port}/api"
    yield server
    await runner.cleanup()


async def http_binding(url: str, **extra: str) -> HttpBinding:
    binding = HttpBinding()
    await binding.init(meta("bindings.http", url=url, **extra))
    return binding


async def test_http_verbs_path_and_headers(target: Target) -> None:
    binding = await http_binding(target.url + "/")
    try:
        assert list(binding.operations()) == ["create", "get", "head", "post", "put", "patch", "delete", "options",
                                              "trace"]
        answer = await call(binding, "post", b'{"a":1}', path="/orders", **{"X-Tenant": "t1", "lower": "no"},
                            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
        sent = target.seen[-1]
        assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/api/orders", b'{"a":1}')
        assert sent["headers"]["Content-Type"] == "application/json; charset=utf-8"
        assert sent["headers"]["Accept"] == "application/json; charset=utf-8"
        assert sent["headers"]["X-Tenant"] == "t1" and "lower" not in sent["headers"]
        assert sent["headers"]["traceparent"].startswith("00-0af7651916cd43dd8448eb211c80319c")
        assert answer.data == b'{"a":1}'
        assert (answer.metadata["statusCode"], answer.metadata["status"]) == ("200", "200 OK")
        assert answer.metadata["X-Multi"] == "a, b" and answer.metadata["Content-Type"] == "text/plain"

        await call(binding, "create", b'"hi"', **{"Content-Type": "text/plain"})
        sent = target.seen[-1]
        assert (sent["method"], sent["path"], sent["body"]) == ("POST", "/api/", b'"hi"')  # url as given
        assert sent["headers"]["Content-Type"] == "text/plain"

        for operation in ("get", "delete", "options", "head", "put", "patch"):
            await call(binding, operation, b'"body"')
            sent = target.seen[-1]
            assert sent["method"] == operation.upper()
            assert sent["body"] == (b'"body"' if operation in ("put", "patch") else b"")
    finally:
        await binding.close()


async def test_http_status_outside_2xx_is_an_error_with_metadata(target: Target) -> None:
    binding = await http_binding(target.url)
    try:
        with pytest.raises(BindingError, match="received status code 404") as failed:
            await call(binding, "get", path="status/404")
        assert failed.value.metadata["statusCode"] == "404"
        assert failed.value.metadata["status"] == "404 Not Found"
        assert failed.value.metadata["X-Reason"] == "scripted"
        answer = await call(binding, "get", path="status/503", errorIfNot2XX="false")
        assert (answer.metadata["statusCode"], answer.data) == ("503", b"nope")
    finally:
        await binding.close()
    lenient = await http_binding(target.url, errorIfNot2XX="false")
    try:
        assert (await call(lenient, "get", path="status/500")).metadata["statusCode"] == "500"
        with pytest.raises(BindingError):
            await call(lenient, "get", path="status/500", errorIfNot2XX="true")
    finally:
        await lenient.close()


async def test_http_component_options(target: Target) -> None:
    binding = await http_binding(target.url, securityToken="s3", securityTokenHeader="X-Token",
                                 responseTimeout="300ms", maxResponseBodySize="1Ki")
    try:
        await call(binding, "get")
        assert target.seen[-1]["headers"]["X-Token"] == "s3"
        assert len((await call(binding, "get", path="big")).data) == 1024
        with pytest.raises(BindingError, match="no answer within"):
            await call(binding, "get", path="slow")
    finally:
        await binding.close()


async def test_http_unreachable_and_bad_metadata() -> None:
    binding = await http_binding("http://127.0.0.1:9")
    try:
        with pytest.raises(BindingError, match="GET http://127.0.0.1:9"):
            await call(binding, "get")
    finally:
        await binding.close()
    for extra in ({"url": ""}, {"url": "ftp://x"}, {"url": "http://x", "MTLSRootCA": "/ca.pem"}):
        with pytest.raises(MetadataError):
            await HttpBinding().init(meta("bindings.http", **extra))


def test_canonical_header() -> None:
    assert canonical_header("content-type") == "Content-Type"
    assert canonical_header("X-MULTI") == "X-Multi"
    assert canonical_header("weird header") == "weird header"
