"""The conformance kit on every built-in driver, built from component documents as a plugin author would."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
import yaml
from aiohttp import web

from tandem.sidecar import conformance
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import InputBinding, InvokeRequest, InvokeResponse, OutputBinding
from tandem.sidecar.components.lock import LockStore
from tandem.sidecar.components.model import ComponentError
from tandem.sidecar.components.pubsub import PubSub
from tandem.sidecar.components.state import StateStore
from tandem.sidecar.conformance import build_component, open_component, unique
from tandem.sidecar.conformance.bindings import InputBindingConformance, OutputBindingConformance, RequestCheck
from tandem.sidecar.conformance.lock import LockStoreConformance
from tandem.sidecar.conformance.pubsub import PubSubConformance
from tandem.sidecar.conformance.state import StateStoreConformance
from tandem.sidecar.drivers.memory_lock import MemoryLockStore
from tandem.sidecar.drivers.memory_state import MemoryStateStore
from tandem.sidecar.plugins import UnknownComponentType, component_registry, plugin_manager

#: The built-in drivers only: these tests must not depend on whichever plugins are installed.
BUILTIN = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))


def component(ctype: str, **metadata: str) -> str:
    """A Dapr component file, as YAML text."""
    return yaml.safe_dump({
        "apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": "conformance"},
        "spec": {"type": ctype, "version": "v1", "metadata": [{"name": k, "value": v} for k, v in metadata.items()]},
    }, sort_keys=False)


class TestMemoryState(StateStoreConformance):
    @pytest.fixture
    async def store(self) -> AsyncIterator[StateStore]:
        async with open_component(component("state.in-memory"), StateStore, registry=BUILTIN) as store:
            yield store


class TestSqliteState(StateStoreConformance):
    invalid_etag = "12345"  # well-formed for the in-memory store, not for this one (UUIDs)

    @pytest.fixture
    async def store(self, tmp_path: Path) -> AsyncIterator[StateStore]:
        doc = component("state.sqlite", connectionString=str(tmp_path / "state.db"))
        async with open_component(doc, StateStore, registry=BUILTIN) as store:
            yield store


class TestMemoryPubSub(PubSubConformance):
    processing_timeout = 1.0

    @pytest.fixture
    async def pubsub(self) -> AsyncIterator[PubSub]:
        doc = component("pubsub.in-memory", processingTimeout="1s")
        async with open_component(doc, PubSub, registry=BUILTIN) as pubsub:
            yield pubsub


class TestSqlitePubSub(PubSubConformance):
    processing_timeout = 1.0

    @pytest.fixture
    async def pubsub(self, tmp_path: Path) -> AsyncIterator[PubSub]:
        doc = component("pubsub.sqlite", connectionString=str(tmp_path / "pubsub.db"), processingTimeout="1s")
        async with open_component(doc, PubSub, registry=BUILTIN) as pubsub:
            yield pubsub


class TestMemoryLock(LockStoreConformance):
    @pytest.fixture
    async def lock_store(self) -> AsyncIterator[LockStore]:
        async with open_component(component("lock.in-memory"), LockStore, registry=BUILTIN) as store:
            yield store



class TestCronBinding(InputBindingConformance):
    event_timeout = 3.0

    @pytest.fixture
    async def input_binding(self) -> AsyncIterator[InputBinding]:
        async with open_component(component("bindings.cron", schedule="@every 1s"), InputBinding,
                                  registry=BUILTIN) as binding:
            yield binding


def _answer(data: bytes) -> Callable[[InvokeResponse | None], None]:
    def check(response: InvokeResponse | None) -> None:
        assert response is not None and response.data == data, response
    return check


def _no_answer(response: InvokeResponse | None) -> None:
    assert response is None, response


class TestLocalStorageBinding(OutputBindingConformance):
    @pytest.fixture
    async def output_binding(self, tmp_path: Path) -> AsyncIterator[OutputBinding]:
        doc = component("bindings.localstorage", rootPath=str(tmp_path / "files"))
        async with open_component(doc, OutputBinding, registry=BUILTIN) as binding:
            yield binding

    def requests(self) -> list[RequestCheck]:
        folder = unique("dir")
        name = f"{folder}/file.txt"

        def json_answer(expected: object) -> Callable[[InvokeResponse | None], None]:
            def check(response: InvokeResponse | None) -> None:
                assert response is not None and json.loads(response.data) == expected, response
            return check

        def lists_the_file(response: InvokeResponse | None) -> None:  # full paths, as Dapr answers
            assert response is not None, response
            files = json.loads(response.data)
            assert len(files) == 1 and files[0].endswith("/" + name), files

        return [
            (InvokeRequest("create", b'"hello"', {"fileName": name}), json_answer({"fileName": name})),
            (InvokeRequest("get", metadata={"fileName": name}), _answer(b"hello")),  # a JSON string is stored decoded
            (InvokeRequest("list", metadata={"fileName": folder}), lists_the_file),
            (InvokeRequest("delete", metadata={"fileName": name}), _no_answer),
            (InvokeRequest("list", metadata={"fileName": folder}), json_answer([])),
        ]


@pytest.fixture
async def http_server() -> AsyncIterator[str]:
    """A tiny key-value HTTP server: PUT/POST store the body at the path, GET returns it, DELETE drops it."""
    stored: dict[str, bytes] = {}

    async def handle(request: web.Request) -> web.Response:
        if request.method in ("PUT", "POST"):
            stored[request.path] = await request.read()
            return web.Response(status=201)
        if request.method == "DELETE":
            stored.pop(request.path, None)
            return web.Response(status=204)
        if request.path not in stored:
            return web.Response(status=404)
        return web.Response(body=stored[request.path])

    app = web.Application()
    for method in ("GET", "PUT", "POST", "DELETE"):  # any other method: 405
        app.router.add_route(method, "/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


class TestHttpBinding(OutputBindingConformance):
    @pytest.fixture
    async def output_binding(self, http_server: str) -> AsyncIterator[OutputBinding]:
        async with open_component(component("bindings.http", url=http_server), OutputBinding,
                                  registry=BUILTIN) as binding:
            yield binding

    def requests(self) -> list[RequestCheck]:
        path = {"path": unique("item")}

        def status(code: str) -> Callable[[InvokeResponse | None], None]:
            def check(response: InvokeResponse | None) -> None:
                assert response is not None and response.metadata.get("statusCode") == code, response
            return check

        return [
            (InvokeRequest("put", b'{"a":1}', path), status("201")),
            (InvokeRequest("get", metadata=path), _answer(b'{"a":1}')),
            (InvokeRequest("delete", metadata=path), status("204")),
            (InvokeRequest("get", metadata={**path, "errorIfNot2XX": "false"}), status("404")),
        ]


# -- build_component ----------------------------------------------------------------


def test_build_component_from_yaml_text() -> None:
    driver, metadata = build_component(component("state.in-memory", cleanupInterval="2s"), app_id="myapp",
                                       contract=StateStore, registry=BUILTIN)
    assert isinstance(driver, MemoryStateStore)
    assert metadata == ComponentMetadata(name="conformance", type="state.in-memory", version="v1",
                                         properties={"cleanupInterval": "2s"}, app_id="myapp")


def test_build_component_from_a_mapping_with_env_refs() -> None:
    doc = {"apiVersion": "dapr.io/v1alpha1", "kind": "Component", "metadata": {"name": "locks"},
           "spec": {"type": "lock.in-memory", "version": "v1",
                    "metadata": [{"name": "n", "value": 3}, {"name": "e", "envRef": "LOCK_E"}]}}
    driver, metadata = build_component(doc, env={"LOCK_E": "from-env"}, registry=BUILTIN)
    assert isinstance(driver, MemoryLockStore)
    assert (metadata.name, metadata.app_id, dict(metadata.properties)) == (
        "locks", "conformance", {"n": "3", "e": "from-env"})


def test_build_component_skips_other_documents() -> None:
    text = "apiVersion: dapr.io/v1alpha1\nkind: Subscription\nmetadata: {name: s}\n---\n" + component("lock.in-memory")
    driver, _ = build_component(text, registry=BUILTIN)
    assert isinstance(driver, MemoryLockStore)


def test_build_component_uses_the_installed_plugins_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TANDEM_DISABLE_PLUGIN_AUTOLOAD", "1")  # whatever else is installed here
    conformance._default_registry.cache_clear()
    try:
        driver, _ = build_component(component("lock.in-memory"))
    finally:
        conformance._default_registry.cache_clear()
    assert isinstance(driver, MemoryLockStore)


def test_build_component_errors() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_component(component("lock.in-memory") + "---\n" + component("state.in-memory"), registry=BUILTIN)
    with pytest.raises(ValueError, match="exactly one"):
        build_component("", registry=BUILTIN)
    with pytest.raises(ComponentError, match="spec.type"):
        build_component(component("nodots"), registry=BUILTIN)
    with pytest.raises(UnknownComponentType, match="no-such-store"):
        build_component(component("state.no-such-store"), registry=BUILTIN)
    with pytest.raises(TypeError, match="not a PubSub"):
        build_component(component("state.in-memory"), contract=PubSub, registry=BUILTIN)
    secret = yaml.safe_load(component("state.in-memory"))
    secret["spec"]["metadata"] = [{"name": "password", "secretKeyRef": {"name": "s", "key": "k"}}]
    with pytest.raises(ValueError, match="secretKeyRef"):
        build_component(secret, registry=BUILTIN)


# -- the kit must catch a broken driver ------------------------------------------------

BROKEN = '''
from __future__ import annotations

import pytest
from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import InputBinding, InvokeRequest, InvokeResponse, OutputBinding
from tandem.sidecar.components.state import SetRequest
from tandem.sidecar.conformance.state import StateStoreConformance
from tandem.sidecar.drivers.memory_state import MemoryStateStore


class IgnoresETags(MemoryStateStore):
    async def set(self, request: SetRequest) -> None:
        await super().set(SetRequest(request.key, request.value, ttl=request.ttl))


class TestBroken(StateStoreConformance):
    @pytest.fixture
    async def store(self):
        store = IgnoresETags()
        await store.init(ComponentMetadata(name="s", type="state.broken"))
        yield store
        await store.close()
'''


def test_the_kit_fails_a_driver_that_ignores_etags(tmp_path: Path) -> None:
    (tmp_path / "test_broken.py").write_text(BROKEN)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist", "-W", "error",
         "-k", "etag or first_write", "test_broken.py"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    for name in ("test_set_with_current_etag_succeeds_and_stale_etag_fails", "test_etag_on_missing_key_is_a_mismatch",
                 "test_invalid_etag_is_rejected", "test_first_write"):
        assert f"FAILED test_broken.py::TestBroken::{name}" in result.stdout, summary
    assert " passed" in summary, summary  # e.g. deleting with an etag still works
