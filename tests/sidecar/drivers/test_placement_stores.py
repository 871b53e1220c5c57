"""The placement conformance suite on the built-in ``placement.in-memory`` and ``placement.sqlite``."""
from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tandem.sidecar.components.placement import PlacementStore
from tandem.sidecar.conformance import open_component
from tandem.sidecar.conformance.placement import PlacementStoreConformance
from tandem.sidecar.plugins import component_registry, plugin_manager

BUILTIN = component_registry(plugin_manager(env={"TANDEM_DISABLE_PLUGIN_AUTOLOAD": "1"}))


def component(ctype: str, **metadata: str) -> str:
    lines = "".join(f"    - name: {k}\n      value: '{v}'\n" for k, v in metadata.items())
    return (f"apiVersion: dapr.io/v1alpha1\nkind: Component\nmetadata:\n  name: placement\nspec:\n"
            f"  type: {ctype}\n  version: v1\n  metadata:\n{lines or '    []'}\n")


class TestMemoryPlacement(PlacementStoreConformance):
    @pytest.fixture
    async def placement_store(self) -> AsyncIterator[PlacementStore]:
        async with open_component(component("placement.in-memory"), PlacementStore, registry=BUILTIN) as store:
            yield store


class TestSqlitePlacement(PlacementStoreConformance):
    @pytest.fixture
    async def placement_store(self, tmp_path: Path) -> AsyncIterator[PlacementStore]:
        doc = component("placement.sqlite", connectionString=str(tmp_path / "placement.db"))
        async with open_component(doc, PlacementStore, registry=BUILTIN) as store:
            yield store


@pytest.mark.anyio
async def test_two_sqlite_connections_share_claims(tmp_path: Path) -> None:
    """Two sidecars on one machine open the same file: a claim by one is seen by the other."""
    from tandem.sidecar.components.placement import HostInfo

    doc = component("placement.sqlite", connectionString=str(tmp_path / "shared.db"))
    async with open_component(doc, PlacementStore, registry=BUILTIN) as one, \
            open_component(doc, PlacementStore, registry=BUILTIN) as two:
        a = HostInfo("host-a", "app", "127.0.0.1:1", ("T",), "ns", 1)
        b = HostInfo("host-b", "app", "127.0.0.1:2", ("T",), "ns", 2)
        await one.heartbeat(a, 60)
        await two.heartbeat(b, 60)
        assert {h.host_id for h in await one.live_hosts("ns")} == {"host-a", "host-b"}
        assert await one.claim("ns", "T||1", "host-a") is None
        assert await two.claim("ns", "T||1", "host-b") == "host-a"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
