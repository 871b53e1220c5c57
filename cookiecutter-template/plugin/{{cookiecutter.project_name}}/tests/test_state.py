"""``{{ cookiecutter.component_type }}`` against Tandem's state store conformance suite."""
from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from tandem.sidecar.components.state import AtomicStateStore, StateStore
from tandem.testing import StateStoreConformance

from {{ cookiecutter.package_name }} import COMPONENT_TYPE
from {{ cookiecutter.package_name }}.state import MemoryStore

# A component file as users will write it (the type is found through the installed entry point).
COMPONENT = f"""
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: {COMPONENT_TYPE}
  version: v1
  metadata:
    - name: keyPrefix
      value: "test:"
"""


class TestStore(StateStoreConformance):
    @pytest.fixture
    async def store(self, tandem_component: Callable[..., Any]) -> AsyncIterator[StateStore]:
        async with tandem_component(COMPONENT, StateStore) as store:
            yield store


def test_the_store_is_built_on_the_toolkit() -> None:
    """Only get and transact are written in state.py: the toolkit's base derives set/delete/bulk."""
    assert issubclass(MemoryStore, AtomicStateStore)
    assert not {"set", "delete", "bulk_set", "bulk_delete"} & set(vars(MemoryStore))
