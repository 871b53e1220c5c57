"""Read Dapr resource files from the resources paths, unchanged.

Every ``*.yaml``/``*.yml`` in each folder (not recursive), several documents per
file. ``Component`` documents are validated here; other kinds (Subscription,
Resiliency, HTTPEndpoint) are kept as raw documents for the blocks that own them.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .model import KINDS, ComponentError, ComponentSpec, Configuration, SecretKeyRef
from .values import parse_bool, parse_duration

__all__ = ["Resources", "load_resources", "load_configuration"]

_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_API_VERSIONS = ("dapr.io/v1alpha1", "dapr.io/v2alpha1")


@dataclass
class Resources:
    """What the resources paths hold, after scoping."""

    components: list[ComponentSpec] = field(default_factory=list)
    documents: dict[str, list[tuple[str, dict[str, Any]]]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def load_resources(
    paths: Iterable[str | Path], app_id: str, namespace: str | None = None
) -> Resources:
    """Load every resource document under ``paths`` visible to ``app_id``.

    Raises :class:`ComponentError` for the first malformed document or for a
    component name used twice.
    """
    resources = Resources()
    seen: dict[str, str] = {}
    for folder in paths:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise ComponentError(folder, "resources path does not exist or is not a folder")
        for file in sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()):
            for doc in _documents(file):
                kind = doc.get("kind")
                if kind == "Component":
                    spec = parse_component(doc, file, os.environ)
                    if not _visible(spec.scopes, spec.namespace, app_id, namespace):
                        resources.skipped.append(spec.name)
                        continue
                    if spec.name in seen:
                        raise ComponentError(
                            file, f"duplicate component name (also defined in {seen[spec.name]})", spec.name
                        )
                    seen[spec.name] = str(file)
                    resources.components.append(spec)
                elif isinstance(kind, str):
                    scopes = doc.get("scopes") or ()
                    if _visible(tuple(scopes), _namespace_of(doc), app_id, namespace):
                        resources.documents.setdefault(kind, []).append((str(file), doc))
    return resources


def load_configuration(path: str | Path) -> Configuration:
    """Read the first ``kind: Configuration`` document of ``path``."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise ComponentError(path, "configuration file not found")
    for doc in _documents(path):
        if doc.get("kind") != "Configuration":
            continue
        spec = doc.get("spec") or {}
        if not isinstance(spec, Mapping):
            raise ComponentError(path, "spec must be a mapping")
        features: dict[str, bool] = {}
        for item in spec.get("features") or []:
            if not isinstance(item, Mapping) or "name" not in item:
                raise ComponentError(path, "spec.features items need a name")
            features[str(item["name"])] = parse_bool(item.get("enabled"), False)
        name = (doc.get("metadata") or {}).get("name") or path.stem
        return Configuration(name=str(name), source=str(path), spec=dict(spec), features=features)
    raise ComponentError(path, "no document with kind: Configuration")


def parse_component(doc: Mapping[str, Any], source: str | Path, env: Mapping[str, str]) -> ComponentSpec:
    """Validate one ``kind: Component`` document."""
    meta = doc.get("metadata")
    if not isinstance(meta, Mapping) or not meta.get("name"):
        raise ComponentError(source, "metadata.name is missing")
    name = meta["name"]
    if not isinstance(name, str) or not _NAME.match(name):
        raise ComponentError(source, f"metadata.name {name!r} is not a valid name (letters, digits, '.', '_', '-')")
    api = doc.get("apiVersion")
    if api not in _API_VERSIONS:
        raise ComponentError(source, f"apiVersion {api!r} is not supported (use dapr.io/v1alpha1)", name)
    spec = doc.get("spec")
    if not isinstance(spec, Mapping):
        raise ComponentError(source, "spec is missing or not a mapping", name)
    ctype = spec.get("type")
    if not isinstance(ctype, str) or "." not in ctype:
        raise ComponentError(source, f"spec.type {ctype!r} must look like <kind>.<name>, e.g. state.sqlite", name)
    if ctype.split(".", 1)[0] not in KINDS:
        raise ComponentError(source, f"spec.type {ctype!r}: unknown kind (known: {', '.join(KINDS)})", name)
    version = spec.get("version") or "v1"
    if not isinstance(version, str):
        raise ComponentError(source, f"spec.version {version!r} must be a string such as v1", name)

    metadata, refs = _metadata(spec.get("metadata"), source, name, env)
    scopes = doc.get("scopes") or ()
    if not isinstance(scopes, (list, tuple)) or not all(isinstance(s, str) for s in scopes):
        raise ComponentError(source, "scopes must be a list of app ids", name)
    auth = doc.get("auth") or {}
    if not isinstance(auth, Mapping):
        raise ComponentError(source, "auth must be a mapping", name)
    secret_store = next((v for k, v in auth.items() if str(k).lower() == "secretstore"), None)
    try:
        init_timeout = parse_duration(spec["initTimeout"], bare_unit=1.0) if spec.get("initTimeout") else None
        ignore_errors = parse_bool(spec.get("ignoreErrors"), False)
    except ValueError as exc:
        raise ComponentError(source, f"spec: {exc}", name) from None
    return ComponentSpec(
        name=name, type=ctype, version=version, metadata=metadata, source=str(source),
        scopes=tuple(scopes), namespace=_namespace_of(doc), secret_refs=refs,
        secret_store=secret_store, init_timeout=init_timeout, ignore_errors=ignore_errors,
    )


def _metadata(
    items: Any, source: str | Path, name: str, env: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, SecretKeyRef]]:
    if items is None:
        return {}, {}
    if not isinstance(items, list):
        raise ComponentError(source, "spec.metadata must be a list of {name, value} items", name)
    values: dict[str, str] = {}
    refs: dict[str, SecretKeyRef] = {}
    for i, item in enumerate(items):
        where = f"spec.metadata[{i}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str) or not item["name"]:
            raise ComponentError(source, f"{where} needs a string 'name'", name)
        key = item["name"]
        if "secretKeyRef" in item:
            ref = item["secretKeyRef"]
            if not isinstance(ref, Mapping) or not ref.get("name"):
                raise ComponentError(source, f"{where} ({key}): secretKeyRef needs a 'name'", name)
            refs[key] = SecretKeyRef(name=str(ref["name"]), key=str(ref.get("key") or ref["name"]))
        elif "envRef" in item:
            values[key] = env.get(str(item["envRef"]), "")
        else:
            values[key] = _to_text(item.get("value"))
    return values, refs


def _to_text(value: Any) -> str:
    """Render a YAML scalar the way Dapr's DynamicValue does (JSON for structures)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _namespace_of(doc: Mapping[str, Any]) -> str | None:
    meta = doc.get("metadata")
    ns = meta.get("namespace") if isinstance(meta, Mapping) else None
    return str(ns) if ns else None


def _visible(scopes: tuple[str, ...], doc_ns: str | None, app_id: str, namespace: str | None) -> bool:
    if scopes and app_id not in scopes:
        return False
    return not (namespace and doc_ns and doc_ns != namespace)


def _documents(file: Path) -> list[dict[str, Any]]:
    try:
        text = file.read_text(encoding="utf-8")
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except (OSError, UnicodeDecodeError) as exc:
        raise ComponentError(file, f"cannot read: {exc}") from None
    except yaml.YAMLError as exc:
        raise ComponentError(file, f"invalid YAML: {exc}".replace("\n", " ")) from None
    for doc in docs:
        if not isinstance(doc, dict):
            raise ComponentError(file, "each YAML document must be a mapping")
    return docs
