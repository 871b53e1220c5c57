"""``secretKeyRef`` metadata values, resolved at load time through secret stores (spec §7.1).

A component names its store in ``auth.secretStore``; each ``secretKeyRef: {name,
key}`` reads secret ``name`` from it and takes its ``key`` (``key`` defaults to
``name``). Dapr assumes the ``kubernetes`` store when ``auth.secretStore`` is
empty on Kubernetes and has no default self-hosted, so the caller passes the
default. Unlike Dapr, which logs and starts the component with an empty value,
a missing store or secret stops start-up with a message naming the component,
the field and the secret — never the value. Secret scopes do not apply here,
as in Dapr: they limit the app, not the component files.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TypeVar

from .base import ComponentMetadata
from .model import ComponentError, ComponentSpec
from .secretstores import SecretNotFound, SecretStore, SecretStoreError

__all__ = ["init_order", "resolve_secret_refs", "with_secret_values"]

T = TypeVar("T")


async def resolve_secret_refs(
    spec: ComponentSpec, stores: Mapping[str, SecretStore], default_store: str | None = None
) -> dict[str, str]:
    """The value of every ``secretKeyRef`` field of ``spec``, by field name ({} when it has none).

    ``stores`` are the initialised secret stores by component name. Raises
    :class:`ComponentError` for a missing store, secret or key.
    """
    if not spec.secret_refs:
        return {}
    store_name = spec.secret_store or default_store
    first = next(iter(spec.secret_refs))
    if not store_name:
        raise ComponentError(
            spec.source,
            f"metadata field {first!r} uses secretKeyRef, but the component names no secret store: "
            "set auth.secretStore to the name of a secretstores.* component",
            spec.name,
        )
    store = stores.get(store_name)
    if store is None:
        loaded = ", ".join(sorted(stores)) or "none"
        raise ComponentError(
            spec.source,
            f"metadata field {first!r}: secret {spec.secret_refs[first].name!r} cannot be read: secret store "
            f"{store_name!r} (auth.secretStore) is not loaded (secret stores loaded: {loaded})",
            spec.name,
        )
    request = {"namespace": spec.namespace or ""}
    secrets: dict[str, dict[str, str]] = {}
    resolved: dict[str, str] = {}
    for field_name, ref in spec.secret_refs.items():
        missing = (f"metadata field {field_name!r}: secret {ref.name!r} key {ref.key!r} "
                   f"not found in secret store {store_name!r}")
        if ref.name not in secrets:
            try:
                secrets[ref.name] = dict(await store.get_secret(ref.name, request))
            except SecretNotFound:
                raise ComponentError(spec.source, missing, spec.name) from None
            except SecretStoreError as exc:
                raise ComponentError(
                    spec.source,
                    f"metadata field {field_name!r}: reading secret {ref.name!r} from secret store "
                    f"{store_name!r} failed: {exc}",
                    spec.name,
                ) from None
        data = secrets[ref.name]
        if ref.key not in data:
            keys = ", ".join(sorted(data)) or "none"
            raise ComponentError(spec.source, f"{missing} (the secret's keys: {keys})", spec.name)
        resolved[field_name] = data[ref.key]
    return resolved


def with_secret_values(metadata: ComponentMetadata, resolved: Mapping[str, str]) -> ComponentMetadata:
    """``metadata`` with the resolved values added, marked secret so its repr and errors hide them."""
    if not resolved:
        return metadata
    return replace(
        metadata,
        properties={**metadata.properties, **resolved},
        secret_fields=metadata.secret_fields | frozenset(resolved),
    )


def init_order(items: Iterable[T], spec_of: Callable[[T], ComponentSpec] | None = None) -> list[T]:
    """``items`` in the order to initialise them: secret stores first, then everything else.

    Secret stores without ``secretKeyRef`` come before those with (which may read
    from the former); otherwise the order of the files is kept. ``spec_of`` gets
    the spec of an item (default: the item is a spec, or has a ``spec``).
    """
    def get(item: T) -> ComponentSpec:
        if spec_of is not None:
            return spec_of(item)
        return item if isinstance(item, ComponentSpec) else item.spec  # type: ignore[attr-defined]

    def rank(item: T) -> int:
        spec = get(item)
        if spec.kind != "secretstores":
            return 2
        return 1 if spec.secret_refs else 0

    return sorted(items, key=rank)
