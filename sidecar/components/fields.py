"""The metadata fields a component type reads, declared, so a component file can be checked before it runs.

A driver may declare its fields on its :class:`~tandem.sidecar.ComponentFactory`
(``fields=(MetadataField("connectionString", required=True), ...)``): the sidecar
then warns at start-up about a field it does not know (with a did-you-mean), and
``tandem doctor`` also reports a missing required field as an error. A type that
declares nothing is reported as "fields not checked". The table is the same one
a plugin's README can mirror.

Fields every driver of a kind gets because the runtime, not the driver, reads
them (``keyPrefix`` of state stores, ``consumerID`` of pub/subs …) are in
:data:`KIND_FIELDS` and need not be declared again.
"""
from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from ..plugins import ComponentFactory

__all__ = ["MetadataField", "FieldProblem", "KIND_FIELDS", "check_fields", "with_fields"]


@dataclass(frozen=True)
class MetadataField:
    """One ``spec.metadata`` field a driver reads."""

    name: str
    required: bool = False
    #: The value used when the field is absent, as written in YAML ("" when there is none).
    default: str = ""
    description: str = ""
    #: Other names read for the same setting (Dapr's older names); one of them satisfies ``required``.
    aliases: tuple[str, ...] = ()
    #: False: accepted so Dapr's files load, but it changes nothing here (reported as not applied).
    applied: bool = True


@dataclass(frozen=True)
class FieldProblem:
    """What is wrong with one field of one component: an ``error`` stops the sidecar, a ``warning`` does not."""

    level: Literal["error", "warning"]
    message: str


#: Fields the runtime reads for every component of a kind, whatever its driver.
KIND_FIELDS: Mapping[str, tuple[MetadataField, ...]] = {
    "state": (
        MetadataField("keyPrefix", default="appid", description="how keys are prefixed: appid, name, namespace, "
                      "none or a fixed prefix"),
        MetadataField("actorStateStore", default="false", description="this store holds actor state"),
    ),
    "pubsub": (
        MetadataField("consumerID", description="the consumer group (default: the app id)"),
        MetadataField("concurrency", description="deliveries in flight per subscription"),
        MetadataField("publishingScopes", description="app=topic1,topic2;… the topics each app may publish"),
        MetadataField("subscriptionScopes", description="app=topic1,topic2;… the topics each app may subscribe to"),
        MetadataField("allowedTopics", description="the only topics allowed"),
        MetadataField("protectedTopics", description="topics only scoped apps may use"),
    ),
    "bindings": (
        MetadataField("direction", description="input, output or both (default: what the driver can do)"),
        MetadataField("route", description="the app's path for input events (default: the component name)"),
    ),
}


def check_fields(kind: str, declared: Sequence[MetadataField], given: Iterable[str]) -> list[FieldProblem]:
    """Unknown fields (warning, with a did-you-mean), fields not applied (warning), missing required ones (error).

    Names match case-insensitively, as the drivers read them.
    """
    known = [*declared, *KIND_FIELDS.get(kind, ())]
    by_name = {n.lower(): f for f in known for n in (f.name, *f.aliases)}
    given = list(given)
    present = {name.lower() for name in given}
    problems: list[FieldProblem] = []
    for name in given:
        field = by_name.get(name.lower())
        if field is None:
            close = difflib.get_close_matches(name, [f.name for f in known], 1, 0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(FieldProblem("warning", f"unknown metadata field {name!r}{hint}: ignored"))
        elif not field.applied:
            problems.append(FieldProblem("warning", f"metadata field {name!r} is accepted but not applied"
                                         + (f": {field.description}" if field.description else "")))
    for field in declared:
        if field.required and not {n.lower() for n in (field.name, *field.aliases)} & present:
            problems.append(FieldProblem("error", f"metadata field {field.name!r} is required"
                                         + (f" ({field.description})" if field.description else "")))
    return problems


def with_fields(factories: Iterable[ComponentFactory],
                table: Mapping[str, tuple[MetadataField, ...]]) -> list[ComponentFactory]:
    """``factories`` with their fields declared from ``table`` (by type); a plugin's one-line way to declare them."""
    return [replace(f, fields=table[f.type]) if f.type in table and f.fields is None else f for f in factories]
