"""``{{ cookiecutter.component_type }}``: the output binding's operations, built from a component file.

There is no conformance suite for bindings: these tests state the contract of this one.
"""
from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tandem.sidecar.components.bindings import BindingError, BindingFeature, InvokeRequest, OutputBinding

from {{ cookiecutter.package_name }} import COMPONENT_TYPE

pytestmark = pytest.mark.anyio

COMPONENT = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: mybinding
spec:
  type: {COMPONENT_TYPE}
  version: v1
  metadata:
    - name: maxItems
      value: "2"
"""


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def binding(tandem_component: Callable[..., Any]) -> AsyncIterator[OutputBinding]:
    async with tandem_component(COMPONENT, OutputBinding) as driver:
        yield driver


async def test_declares_its_operations(binding: OutputBinding) -> None:
    assert set(binding.operations()) == {"create", "get", "delete", "list"}
    assert BindingFeature.OUTPUT_BINDING.value in binding.features()


async def test_create_get_list_delete(binding: OutputBinding) -> None:
    created = await binding.invoke(InvokeRequest("create", b'{"a":1}', {"key": "k1"}))
    assert created is not None and json.loads(created.data) == {"key": "k1"}
    got = await binding.invoke(InvokeRequest("get", metadata={"key": "k1"}))
    assert got is not None and got.data == b'{"a":1}'
    listed = await binding.invoke(InvokeRequest("list"))
    assert listed is not None and json.loads(listed.data) == ["k1"]
    assert await binding.invoke(InvokeRequest("delete", metadata={"key": "k1"})) is None
    with pytest.raises(BindingError):
        await binding.invoke(InvokeRequest("get", metadata={"key": "k1"}))


async def test_create_without_a_key_makes_one(binding: OutputBinding) -> None:
    created = await binding.invoke(InvokeRequest("create", b"x"))
    assert created is not None and created.metadata["key"]


async def test_max_items_is_enforced(binding: OutputBinding) -> None:
    for key in ("a", "b"):
        await binding.invoke(InvokeRequest("create", b"x", {"key": key}))
    await binding.invoke(InvokeRequest("create", b"y", {"key": "a"}))  # overwriting is fine
    with pytest.raises(BindingError, match="maxItems"):
        await binding.invoke(InvokeRequest("create", b"x", {"key": "c"}))


async def test_get_and_delete_need_a_key(binding: OutputBinding) -> None:
    for operation in ("get", "delete"):
        with pytest.raises(BindingError, match="key"):
            await binding.invoke(InvokeRequest(operation))
