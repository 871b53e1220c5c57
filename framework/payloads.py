"""Typed payloads: turn decoded JSON into the type a handler's annotation names, or say why not.

Every decorator (``@app.method``, ``@app.topic``, ``@app.binding``, ``@actor_method``) asks
`decoder` once, when the handler is registered. It returns a function from the JSON value to
the annotated type, or raises `TypeError` naming the handler and the annotation it cannot
honour, so a typo never turns into a silently untyped handler. At call time the function
raises `PayloadError` (which field, what type was expected, what JSON came) for a payload
that does not fit; each caller turns that into its own answer (400, or DROP for events).

What can be annotated: `Any` / `object` (the JSON as is); `str`, `int`, `float`, `bool`,
`None`; `list`, `tuple`, `set`, `frozenset`, `dict` (string keys) and their `collections.abc`
cousins, with or without item types; unions and `Optional`; `Literal`; enums (by value);
dataclasses and `TypedDict` (nested freely, extra keys ignored); pydantic models
(``model_validate``; pydantic is used only when the app itself imports it).
"""

from __future__ import annotations

import collections.abc as abc
import dataclasses
import enum
import sys
import types
import typing
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Any

__all__ = ["Decode", "PayloadError", "caller_namespace", "decoder", "type_name"]

Decode = Callable[[Any], Any]
_Path = tuple[str | int, ...]
_Conv = Callable[[Any, _Path], Any]

_JSON_TYPES: dict[type, str] = {
    dict: "a JSON object", list: "a JSON array", str: "a JSON string", bool: "a JSON boolean",
    int: "a JSON number", float: "a JSON number", type(None): "null",
}
_LISTS: dict[Any, type] = {list: list, abc.Sequence: list, abc.MutableSequence: list, abc.Collection: list,
                           abc.Iterable: list, set: set, abc.Set: set, abc.MutableSet: set,
                           frozenset: frozenset}
_DICTS = (dict, abc.Mapping, abc.MutableMapping)


class PayloadError(ValueError):
    """A payload that does not fit the annotated type: where, what was expected, what came."""

    def __init__(self, path: _Path, expected: str, got: str) -> None:
        self.path = path
        self.field = _dotted(path)
        self.expected = expected
        self.got = got
        #: The annotated type of the whole payload (set by the `decoder` function).
        self.target = ""
        where = f"field {self.field!r}: " if path else ""
        super().__init__(f"{where}expected {expected}, got {got}")


class _Unsupported(Exception):
    pass


def decoder(annotation: Any, *, where: str, namespace: Mapping[str, Any] | None = None) -> Decode:
    """The function that turns a JSON value into `annotation` (raising `PayloadError`).

    `where` names the handler for the `TypeError` raised when the annotation cannot be
    honoured; `namespace` resolves the names in the annotations of dataclasses and TypedDicts.
    """
    try:
        convert = _Builder(namespace).build(annotation)
    except _Unsupported as exc:
        raise TypeError(f"{where}: cannot decode a payload into {type_name(annotation)}: {exc}") from None

    target = type_name(annotation)

    def decode(value: Any) -> Any:
        try:
            return convert(value, ())
        except PayloadError as exc:
            exc.target = target
            raise

    return decode


def type_name(annotation: Any) -> str:
    """A short readable name for an annotation (``Order``, ``list[Line]``, ``int | None``)."""
    if annotation is None or annotation is type(None):
        return "None"
    if annotation is Ellipsis:
        return "..."
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Union or origin is types.UnionType:
        return " | ".join(type_name(a) for a in args)
    if origin is typing.Literal:
        return f"Literal[{', '.join(map(repr, args))}]"
    if origin is not None and args:
        return f"{getattr(origin, '__qualname__', origin)}[{', '.join(type_name(a) for a in args)}]"
    if isinstance(annotation, type):
        return annotation.__qualname__
    return str(annotation).replace("typing.", "")


def caller_namespace() -> dict[str, Any]:
    """The local names of the scope that registers a handler (a test function, a factory ...),
    so annotations naming classes defined there resolve, as pydantic does: the first frame
    outside this package."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and str(frame.f_globals.get("__name__", "")).startswith(f"{__package__}."):
        frame = frame.f_back
    return dict(frame.f_locals) if frame is not None else {}


class _Builder:
    """Builds converters, once per registration; recursive dataclasses refer to themselves lazily."""

    def __init__(self, namespace: Mapping[str, Any] | None) -> None:
        self._cells: dict[Any, list[_Conv]] = {}
        self._namespace = dict(namespace or {})

    def build(self, tp: Any) -> _Conv:
        if tp is Any or tp is object:
            return _identity
        if tp is None or tp is type(None):
            return _exactly_none
        if isinstance(tp, (str, typing.ForwardRef)):
            raise _Unsupported("the name is not visible where the handler was registered")
        supertype = getattr(tp, "__supertype__", None)  # typing.NewType
        if supertype is not None:
            return self.build(supertype)
        origin, args = typing.get_origin(tp), typing.get_args(tp)
        if origin is typing.Annotated:
            return self.build(args[0])
        if origin is typing.Union or origin is types.UnionType:
            return self._union(tp, [self.build(a) for a in args], sum(a is not type(None) for a in args))
        if origin is typing.Literal:
            return _literal(tp, args)
        if tp in (str, int, float, bool):
            return _scalar(tp)
        if isinstance(tp, type) and issubclass(tp, enum.Enum):
            return _enum(tp)
        container = origin if origin is not None else tp
        if container in _LISTS or container is tuple:
            return self._sequence(tp, container, args)
        if container in _DICTS:
            return self._mapping(tp, args)
        if not isinstance(tp, type) or args:
            raise _Unsupported("only JSON types, dataclasses, TypedDicts and pydantic models can be decoded")
        if tp in self._cells:  # a recursive type: refer to the converter being built
            cell = self._cells[tp]
            return lambda value, path: cell[0](value, path)
        self._cells[tp] = cell = []
        if typing.is_typeddict(tp):
            cell.append(self._typeddict(tp))
        elif dataclasses.is_dataclass(tp):
            cell.append(self._dataclass(tp))
        elif _pydantic_model(tp):
            cell.append(_pydantic(tp))
        else:
            raise _Unsupported("it is not a dataclass, a TypedDict or a pydantic model, "
                               "so there is no way to build it from JSON")
        return cell[0]

    def _union(self, tp: Any, options: list[_Conv], not_none: int) -> _Conv:
        def convert(value: Any, path: _Path) -> Any:
            errors: list[PayloadError] = []
            for option in options:
                try:
                    return option(value, path)
                except PayloadError as exc:
                    errors.append(exc)
            if not_none == 1 and value is not None:  # `X | None` given something: say what was wrong in X
                raise next(e for e in errors if e.expected != "null")
            raise PayloadError(path, type_name(tp), _json_type(value))

        return convert

    def _sequence(self, tp: Any, container: Any, args: tuple[Any, ...]) -> _Conv:
        if container is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            items = [self.build(a) for a in args]

            def fixed(value: Any, path: _Path) -> Any:
                if not isinstance(value, list) or len(value) != len(items):
                    got = f"a JSON array of {len(value)}" if isinstance(value, list) else _json_type(value)
                    raise PayloadError(path, f"{type_name(tp)} (a JSON array of {len(items)})", got)
                return tuple(c(v, (*path, i)) for i, (c, v) in enumerate(zip(items, value, strict=True)))

            return fixed
        item = self.build(args[0]) if args else _identity
        make: Callable[[Any], Any] = tuple if container is tuple else _LISTS[container]
        if item is _identity and make is list:
            return _of_json_type(list, f"{type_name(tp)} (a JSON array)")

        def many(value: Any, path: _Path) -> Any:
            if not isinstance(value, list):
                raise PayloadError(path, f"{type_name(tp)} (a JSON array)", _json_type(value))
            try:
                return make(item(v, (*path, i)) for i, v in enumerate(value))
            except TypeError:  # unhashable items for a set
                raise PayloadError(path, type_name(tp), "items that cannot go in a set") from None

        return many

    def _mapping(self, tp: Any, args: tuple[Any, ...]) -> _Conv:
        if args and args[0] not in (str, Any):
            raise _Unsupported("JSON object keys are strings: use dict[str, ...]")
        item = self.build(args[1]) if args else _identity
        if item is _identity:
            return _of_json_type(dict, f"{type_name(tp)} (a JSON object)")

        def convert(value: Any, path: _Path) -> Any:
            if not isinstance(value, dict):
                raise PayloadError(path, f"{type_name(tp)} (a JSON object)", _json_type(value))
            return {k: item(v, (*path, k)) for k, v in value.items()}

        return convert

    def _typeddict(self, tp: type) -> _Conv:
        hints = _hints(tp, self._namespace)
        fields = {name: self.build(hint) for name, hint in hints.items()}
        required = _required_keys(tp, self._namespace)

        def convert(value: Any, path: _Path) -> Any:
            if not isinstance(value, dict):
                raise PayloadError(path, f"{tp.__qualname__} (a JSON object)", _json_type(value))
            missing = sorted(required - value.keys())
            if missing:
                raise PayloadError((*path, missing[0]), type_name(hints[missing[0]]), "nothing (the field is missing)")
            return {k: fields[k](v, (*path, k)) if k in fields else v for k, v in value.items()}

        return convert

    def _dataclass(self, tp: type) -> _Conv:
        hints = _hints(tp, self._namespace)
        fields = [(f.name, self.build(hints.get(f.name, Any)), _has_default(f))
                  for f in dataclasses.fields(tp) if f.init]

        def convert(value: Any, path: _Path) -> Any:
            if not isinstance(value, dict):
                raise PayloadError(path, f"{tp.__qualname__} (a JSON object)", _json_type(value))
            kwargs: dict[str, Any] = {}
            for name, field_conv, optional in fields:
                if name in value:
                    kwargs[name] = field_conv(value[name], (*path, name))
                elif not optional:
                    raise PayloadError((*path, name), type_name(hints.get(name, Any)),
                                       "nothing (the field is missing)")
            try:
                return tp(**kwargs)
            except (TypeError, ValueError) as exc:  # __post_init__ checks, pydantic dataclasses
                raise PayloadError(path, f"a valid {tp.__qualname__}", f"one it refused ({exc})") from None

        return convert


def _required_keys(tp: type, namespace: dict[str, Any]) -> frozenset[str]:
    """The keys a TypedDict requires; read from the hints too, as string annotations
    (``from __future__ import annotations``) hide ``NotRequired`` from the class itself."""
    required = set(getattr(tp, "__required_keys__", ()))
    for name, hint in _hints(tp, namespace, extras=True).items():
        origin = typing.get_origin(hint)
        if origin is typing.NotRequired:
            required.discard(name)
        elif origin is typing.Required:
            required.add(name)
    return frozenset(required)


def _hints(tp: type, namespace: dict[str, Any], *, extras: bool = False) -> dict[str, Any]:
    try:
        return typing.get_type_hints(tp, localns=namespace or None, include_extras=extras)
    except Exception as exc:  # noqa: BLE001 - a name that cannot be resolved: refuse at registration
        raise _Unsupported(f"the annotations of {tp.__qualname__} cannot be resolved ({exc})") from None


def _has_default(f: dataclasses.Field[Any]) -> bool:
    return f.default is not dataclasses.MISSING or f.default_factory is not dataclasses.MISSING


def _identity(value: Any, path: _Path) -> Any:
    return value


def _of_json_type(kind: type, expected: str) -> _Conv:
    """A list or dict of anything: checked, passed as is (no copy)."""

    def convert(value: Any, path: _Path) -> Any:
        if not isinstance(value, kind):
            raise PayloadError(path, expected, _json_type(value))
        return value

    return convert


def _exactly_none(value: Any, path: _Path) -> Any:
    if value is not None:
        raise PayloadError(path, "null", _json_type(value))
    return None


def _scalar(tp: type) -> _Conv:
    def convert(value: Any, path: _Path) -> Any:
        if tp is int and isinstance(value, float) and value.is_integer():
            return int(value)
        if tp is float and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, tp) and (tp is bool or not isinstance(value, bool)):
            return value
        raise PayloadError(path, tp.__name__, _json_type(value))

    return convert


def _literal(tp: Any, allowed: tuple[Any, ...]) -> _Conv:
    def convert(value: Any, path: _Path) -> Any:
        if any(value == a and type(value) is type(a) for a in allowed):
            return value
        raise PayloadError(path, f"one of {', '.join(map(repr, allowed))}", _json_type(value, show=True))

    return convert


def _enum(tp: type[enum.Enum]) -> _Conv:
    def convert(value: Any, path: _Path) -> Any:
        try:
            return tp(value)
        except (ValueError, TypeError):
            values = ", ".join(repr(m.value) for m in tp)
            raise PayloadError(path, f"{tp.__qualname__} (one of {values})", _json_type(value, show=True)) from None

    return convert


def _pydantic_model(tp: type) -> bool:
    # A pydantic model can only exist once pydantic is imported: never import it ourselves.
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and issubclass(tp, pydantic.BaseModel)


def _pydantic(tp: Any) -> _Conv:
    pydantic = sys.modules["pydantic"]
    validate = getattr(tp, "model_validate", None) or tp.parse_obj

    def convert(value: Any, path: _Path) -> Any:
        try:
            return validate(value)
        except pydantic.ValidationError as exc:
            first: Mapping[str, Any] = exc.errors()[0]
            loc = tuple(first.get("loc", ()))
            raise PayloadError((*path, *loc), f"a valid {tp.__qualname__}",
                               f"{_json_type(value)} it refused: {first.get('msg', exc)}") from None

    return convert


def _json_type(value: Any, *, show: bool = False) -> str:
    """What came, as JSON calls it; the value itself only for short scalars (Literal, enum)."""
    name = _JSON_TYPES.get(type(value), type(value).__name__)
    if show and isinstance(value, (str, int, float, bool)) and len(repr(value)) <= 40:
        return f"{name} {value!r}"
    return name


def _dotted(path: _Path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
