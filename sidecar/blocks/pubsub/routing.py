"""Subscription routing rules: CEL ``match`` expressions over ``event`` (spec §3.2).

Expressions are compiled once, when the subscription is loaded; a rule whose
expression fails at delivery (a missing field, a type mismatch) does not match,
as in Dapr.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.adapter import json_to_cel

__all__ = ["Rule", "RoutingError", "compile_rule", "select_path"]

log = logging.getLogger("tandem.sidecar.routing")
_ENV = celpy.Environment()


class RoutingError(ValueError):
    """A ``match`` expression that does not compile; the message quotes it."""


@dataclass(frozen=True)
class Rule:
    """Deliver to ``path`` when ``match`` (empty: always) is true for the event."""

    path: str
    match: str = ""
    program: Any = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        if self.program is None:
            return True
        try:
            result = self.program.evaluate({"event": json_to_cel(dict(event))})
        except Exception as exc:  # celpy raises its own errors and KeyError-like ones
            log.debug("rule %r did not evaluate: %s", self.match, exc)
            return False
        return isinstance(result, (bool, celtypes.BoolType)) and bool(result)


def compile_rule(path: str, match: str = "") -> Rule:
    """A rule with its CEL expression compiled; the path gets its leading ``/``."""
    path = path if path.startswith("/") else "/" + path
    match = (match or "").strip()
    if not match:
        return Rule(path)
    try:
        program = _ENV.program(_ENV.compile(match))
    except Exception as exc:
        raise RoutingError(f"invalid match expression {match!r}: {exc}") from None
    return Rule(path, match, program)


def select_path(rules: Sequence[Rule], event: Mapping[str, Any]) -> str | None:
    """The first matching rule's path, or ``None`` (the event is dropped)."""
    for rule in rules:
        if rule.matches(event):
            return rule.path
    return None
