"""The state Query API's DSL (alpha): a typed query, its parser, and a pure evaluator.

The wire format is Dapr's: ``{"filter": {...}, "sort": [{"key", "order"}],
"page": {"limit", "token"}}`` where filter keys are dotted paths into the JSON
value (``person.org``). Stores with no native query engine hand their live rows
to :func:`run_query`, so every such store filters, sorts and pages the same way.

Semantics the evaluator guarantees (and the tests pin down):

* A filter on a field never matches a row whose value is not a JSON object, nor
  one lacking the field (``NEQ`` included, as in SQL).
* Equality is JSON equality: ``1`` equals ``1.0`` but not ``true``.
* ``GT``/``GTE``/``LT``/``LTE`` compare numbers with numbers and strings with
  strings; any other pairing does not match.
* Rows are first ordered by key, then by each ``sort`` entry (stable), so
  paging is deterministic. Values of different types sort by type rank:
  missing < null < booleans < numbers < strings < arrays < objects.
* The page token is opaque to clients; here it is the offset of the next page.
"""
from __future__ import annotations

import enum
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from .wire import field as wire_field

__all__ = [
    "And", "Compare", "CompareOp", "Filter", "In", "Or", "Query", "QueryItem", "QueryPage", "QueryRow",
    "SortKey", "parse_query", "run_query",
]


class CompareOp(str, enum.Enum):
    EQ = "EQ"
    NEQ = "NEQ"
    GT = "GT"
    GTE = "GTE"
    LT = "LT"
    LTE = "LTE"


@dataclass(frozen=True)
class Compare:
    """``{"EQ": {"person.org": "Dev Ops"}}`` and the other one-field comparisons."""

    op: CompareOp
    key: str
    value: Any


@dataclass(frozen=True)
class In:
    """``{"IN": {"state": ["CA", "WA"]}}``: the field equals one of ``values``."""

    key: str
    values: tuple[Any, ...]


@dataclass(frozen=True)
class And:
    filters: tuple[Filter, ...]


@dataclass(frozen=True)
class Or:
    filters: tuple[Filter, ...]


Filter: TypeAlias = "Compare | In | And | Or"


@dataclass(frozen=True)
class SortKey:
    key: str
    descending: bool = False


@dataclass(frozen=True)
class Query:
    """A parsed query. ``limit`` 0 means no limit; ``metadata`` is the request's, for drivers."""

    filter: Filter | None = None
    sort: tuple[SortKey, ...] = ()
    limit: int = 0
    token: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueryItem:
    key: str
    data: bytes
    etag: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class QueryPage:
    """One page of results; ``token`` is set only when more results remain."""

    results: Sequence[QueryItem] = ()
    token: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


#: What a driver feeds :func:`run_query`: ``(key, value bytes, etag)``.
QueryRow: TypeAlias = "tuple[str, bytes, str | None]"

_TOKEN = re.compile(r"[0-9]{1,18}")
_LOGICAL = ("AND", "OR")
_OPERATORS = ", ".join([op.value for op in CompareOp] + ["IN", *_LOGICAL])


# -- parsing ---------------------------------------------------------------------


def parse_query(obj: Any) -> Query:
    """Turn the decoded request body into a :class:`Query`; ``ValueError`` names what is wrong."""
    if not isinstance(obj, dict):
        raise ValueError(f"query must be a JSON object, got {_json_type(obj)}")
    raw_filter = obj.get("filter")
    parsed = None if raw_filter is None else _parse_filter(raw_filter, "filter")
    sort = _parse_sort(obj.get("sort"))
    limit, token = _parse_page(obj.get("page"))
    return Query(filter=parsed, sort=sort, limit=limit, token=token)


def _parse_filter(obj: Any, where: str) -> Filter:
    if not isinstance(obj, dict):
        raise ValueError(f"{where}: must be an object with one operator, got {_json_type(obj)}")
    if len(obj) != 1:
        found = ", ".join(map(str, obj)) or "none"
        raise ValueError(f"{where}: must have exactly one operator ({_OPERATORS}), got {found}")
    [(name, arg)] = obj.items()
    where = f"{where}.{name}"
    if name in _LOGICAL:
        if not isinstance(arg, list):
            raise ValueError(f"{where}: must be an array of filters, got {_json_type(arg)}")
        if len(arg) < 2:
            raise ValueError(f"{where}: must contain at least two filters, got {len(arg)}")
        children = tuple(_parse_filter(child, f"{where}[{i}]") for i, child in enumerate(arg))
        return And(children) if name == "AND" else Or(children)
    if name != "IN" and name not in CompareOp.__members__:
        raise ValueError(f"{where}: unknown operator {name!r}; use one of {_OPERATORS}")
    if not isinstance(arg, dict):
        raise ValueError(f"{where}: must be an object {{\"<field>\": <value>}}, got {_json_type(arg)}")
    if len(arg) != 1:
        raise ValueError(f"{where}: must contain exactly one field/value pair, got {len(arg)}")
    [(key, value)] = arg.items()
    _check_path(key, where)
    if name == "IN":
        if not isinstance(value, list):
            raise ValueError(f"{where}: the value of {key!r} must be an array, got {_json_type(value)}")
        return In(key, tuple(value))
    op = CompareOp(name)
    if op not in (CompareOp.EQ, CompareOp.NEQ) and _orderable(value) is None:
        raise ValueError(f"{where}: the value of {key!r} must be a number or a string, got {_json_type(value)}")
    return Compare(op, key, value)


def _check_path(key: str, where: str) -> None:
    if key == "" or "" in key.split("."):
        raise ValueError(f"{where}: invalid field path {key!r} (use dotted names such as person.org)")


def _parse_sort(obj: Any) -> tuple[SortKey, ...]:
    if obj is None:
        return ()
    if not isinstance(obj, list):
        raise ValueError(f"sort: must be an array of {{key, order}}, got {_json_type(obj)}")
    keys: list[SortKey] = []
    for i, item in enumerate(obj):
        where = f"sort[{i}]"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: must be an object {{key, order}}, got {_json_type(item)}")
        key = _field(item, "key")
        if not isinstance(key, str):
            raise ValueError(f"{where}: \"key\" must be a string field path")
        _check_path(key, where)
        order = _field(item, "order")
        if order is None or order == "":
            order = "ASC"
        if not isinstance(order, str) or order.upper() not in ("ASC", "DESC"):
            raise ValueError(f"{where}: invalid order {order!r}; use ASC or DESC")
        keys.append(SortKey(key, order.upper() == "DESC"))
    return tuple(keys)


def _parse_page(obj: Any) -> tuple[int, str | None]:
    if obj is None:
        return 0, None
    if not isinstance(obj, dict):
        raise ValueError(f"page: must be an object {{limit, token}}, got {_json_type(obj)}")
    limit = _field(obj, "limit")
    if limit is None:
        limit = 0
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"page.limit: must be a non-negative integer, got {json.dumps(limit)}")
    token = _field(obj, "token")
    if token is None or token == "":
        return limit, None
    if not isinstance(token, str):
        raise ValueError(f"page.token: must be a string, got {_json_type(token)}")
    _offset(token)
    return limit, token


def _field(obj: Mapping[str, Any], name: str) -> Any:
    """Go decodes ``sort`` and ``page`` into structs, matching field names case-insensitively."""
    return wire_field(obj, name)


def _offset(token: str | None) -> int:
    if token is None or token == "":
        return 0
    if not _TOKEN.fullmatch(token):
        raise ValueError(f"page.token: invalid token {token!r}; pass the token of a previous response")
    return int(token)


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


# -- evaluation ------------------------------------------------------------------

_MISSING: Any = object()


def run_query(query: Query, rows: Iterable[QueryRow]) -> QueryPage:
    """Filter, sort and page ``rows``; raises ``ValueError`` for an invalid token."""
    offset = _offset(query.token)
    matches = _compile(query.filter)
    found: list[tuple[Any, QueryItem]] = []
    for key, data, etag in sorted(rows, key=lambda row: row[0]):
        doc = _decode(data)
        if matches(doc):
            found.append((doc, QueryItem(key=key, data=data, etag=etag)))
    for spec in reversed(query.sort):  # least significant first; each sort is stable
        found.sort(key=_sort_key(spec.key), reverse=spec.descending)
    end = len(found) if query.limit == 0 else offset + query.limit
    page = [item for _, item in found[offset:end]]
    return QueryPage(results=page, token=str(end) if end < len(found) else None)


def _decode(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return _MISSING


def _lookup(doc: Any, path: Sequence[str]) -> Any:
    for part in path:
        if not isinstance(doc, dict) or part not in doc:
            return _MISSING
        doc = doc[part]
    return doc


Predicate = Callable[[Any], bool]


def _compile(node: Filter | None) -> Predicate:
    """Turn the filter tree into one closure, so paths are split once per query, not per row."""
    if node is None:
        return lambda doc: True
    if isinstance(node, (And, Or)):
        children = [_compile(child) for child in node.filters]
        if isinstance(node, And):
            return lambda doc: all(child(doc) for child in children)
        return lambda doc: any(child(doc) for child in children)
    path = node.key.split(".")
    if isinstance(node, In):
        values = node.values

        def test_in(doc: Any) -> bool:
            found = _lookup(doc, path)
            return found is not _MISSING and any(_same(found, v) for v in values)

        return test_in
    compare, wanted = _COMPARE[node.op], node.value

    def test_compare(doc: Any) -> bool:
        found = _lookup(doc, path)
        return found is not _MISSING and compare(found, wanted)

    return test_compare


def _kind(value: Any) -> int:
    """JSON type rank, also the cross-type sort order."""
    if value is _MISSING:
        return 0
    if value is None:
        return 1
    if isinstance(value, bool):
        return 2
    if isinstance(value, (int, float)):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, list):
        return 5
    return 6


def _same(a: Any, b: Any) -> bool:
    """JSON equality: Python's ``==`` would say ``True == 1``."""
    kind = _kind(a)
    if kind != _kind(b):
        return False
    if kind == 5:
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if kind == 6:
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _orderable(value: Any) -> int | None:
    kind = _kind(value)
    return kind if kind in (3, 4) else None


def _ordered(test: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(found: Any, wanted: Any) -> bool:
        kind = _orderable(found)
        return kind is not None and kind == _orderable(wanted) and test(found, wanted)

    return compare


_COMPARE: dict[CompareOp, Callable[[Any, Any], bool]] = {
    CompareOp.EQ: _same,
    CompareOp.NEQ: lambda found, wanted: not _same(found, wanted),
    CompareOp.GT: _ordered(lambda a, b: bool(a > b)),
    CompareOp.GTE: _ordered(lambda a, b: bool(a >= b)),
    CompareOp.LT: _ordered(lambda a, b: bool(a < b)),
    CompareOp.LTE: _ordered(lambda a, b: bool(a <= b)),
}


def _sort_key(key: str) -> Callable[[tuple[Any, QueryItem]], tuple[int, Any]]:
    path = key.split(".")

    def rank(entry: tuple[Any, QueryItem]) -> tuple[int, Any]:
        value = _lookup(entry[0], path)
        kind = _kind(value)
        if kind in (0, 1):
            return kind, 0
        if kind >= 5:  # arrays and objects: a stable, comparable rendering
            return kind, json.dumps(value, sort_keys=True, separators=(",", ":"))
        return kind, value

    return rank
