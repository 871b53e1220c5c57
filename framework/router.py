"""Registration model: what a handler is, what it receives, and a `Router` that records them.

Registration is plain data (`MethodSpec`, `TopicSpec`, `BindingSpec`) appended to a list owned
by an `App` or a `Router`; nothing global. The decorators are sugar over the ``add_*`` methods
and return the function unchanged, so handlers stay plain, typed and directly callable.
A `Router` only records; ``app.include_router(router)`` replays its registrations onto the
app (as Flask blueprints do), so handlers can live in several modules.

Handlers take no payload argument or one. What it receives is decided once, at
registration, from its annotation: `starlette.requests.Request` gets the request, `bytes`
the raw body, `CloudEvent` (topic handlers only) the whole event, anything else the
JSON-decoded body (for topics: the event's ``data``) converted to the annotated type by
`tandem.payloads` (dataclass, TypedDict, pydantic model, JSON types); an annotation it cannot
honour is a `TypeError` here, at registration. Parameters annotated `tandem.Client` receive
the app's one sidecar client, whatever their number or position.
"""

from __future__ import annotations

import base64
import binascii
import enum
import inspect
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeAlias, TypeVar, overload

from starlette.requests import Request

from .client import Client
from .payloads import Decode, caller_namespace, decoder

__all__ = [
    "BindingSpec",
    "CloudEvent",
    "Inject",
    "MethodSpec",
    "Receives",
    "Registration",
    "Router",
    "TopicSpec",
]

F = TypeVar("F", bound=Callable[..., Any])

# Routes the App always serves itself; a registration may not take them.
RESERVED = frozenset(
    (verb, path)
    for path in ("/dapr/subscribe", "/dapr/config", "/healthz")
    for verb in ("GET", "HEAD")
)

_CORE_ATTRS = frozenset(
    {"id", "source", "type", "specversion", "datacontenttype", "topic", "pubsubname", "data", "data_base64"}
)


@dataclass(frozen=True)
class CloudEvent:
    """The CloudEvent a topic handler receives; Dapr's extra attributes go in `extensions`.

    `data` is decoded by content type: JSON (``application/json`` and ``+json`` types) is
    the decoded value, text is a `str`, and ``data_base64`` (binary and raw-payload
    events) is `bytes`.
    """

    id: str = ""
    source: str = ""
    type: str = ""
    specversion: str = "1.0"
    datacontenttype: str | None = None
    topic: str | None = None
    pubsubname: str | None = None
    data: Any = None
    extensions: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, event: Mapping[str, Any]) -> CloudEvent:
        """Build from the JSON envelope the sidecar POSTs."""
        data = event.get("data")
        encoded = event.get("data_base64")
        if isinstance(encoded, str):
            try:
                data = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError) as exc:
                raise ValueError("data_base64 is not valid base64") from exc

        def text(name: str) -> str | None:
            value = event.get(name)
            return None if value is None else str(value)

        return cls(
            id=text("id") or "",
            source=text("source") or "",
            type=text("type") or "",
            specversion=text("specversion") or "1.0",
            datacontenttype=text("datacontenttype"),
            topic=text("topic"),
            pubsubname=text("pubsubname"),
            data=data if isinstance(encoded, str) else _decode_data(data, text("datacontenttype")),
            extensions={k: v for k, v in event.items() if k not in _CORE_ATTRS},
        )


def _decode_data(data: Any, content_type: str | None) -> Any:
    """Dapr parses the body only for exactly ``application/json``; other JSON types arrive as text."""
    if not isinstance(data, str) or content_type is None:
        return data
    media = content_type.split(";", 1)[0].strip().lower()
    if media.endswith("+json"):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


class Inject(enum.Enum):
    """What a handler's single argument receives; decided once, at registration."""

    NOTHING = "nothing"
    REQUEST = "request"
    BYTES = "bytes"
    JSON = "json"
    EVENT = "event"


@dataclass(frozen=True)
class Receives:
    """How a handler is called, decided once at registration: what its payload parameter gets
    (`inject`, and `decode` for a typed JSON payload) and which parameters get the client."""

    inject: Inject
    decode: Decode | None = None
    #: (parameter name, passed positionally?, True for the payload / False for the client)
    params: tuple[tuple[str, bool, bool], ...] = ()

    def arguments(self, payload: Any, client: Callable[[], Client]) -> tuple[list[Any], dict[str, Any]]:
        """The call's positional and keyword arguments."""
        args: list[Any] = []
        kwargs: dict[str, Any] = {}
        for name, positional, is_payload in self.params:
            value = payload if is_payload else client()
            if positional:
                args.append(value)
            else:
                kwargs[name] = value
        return args, kwargs


@dataclass(frozen=True)
class MethodSpec:
    """A service-invocation target: the sidecar calls ``VERB <path>`` on the app."""

    name: str
    path: str
    methods: tuple[str, ...]
    handler: Callable[..., Any]
    receives: Receives

    def endpoints(self) -> set[tuple[str, str]]:
        verbs = set(self.methods) | ({"HEAD"} if "GET" in self.methods else set())
        return {(verb, self.path) for verb in verbs}


@dataclass(frozen=True)
class TopicSpec:
    """One handler of a subscription; handlers of one (pubsub, topic) form one subscription."""

    pubsub: str
    topic: str
    path: str
    handler: Callable[..., Any]
    receives: Receives
    match: str | None = None
    priority: int = 0
    dead_letter_topic: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)

    def endpoints(self) -> set[tuple[str, str]]:
        return {("POST", self.path)}


@dataclass(frozen=True)
class BindingSpec:
    """An input binding: the sidecar probes ``OPTIONS <path>`` then POSTs each event."""

    name: str
    path: str
    handler: Callable[..., Any]
    receives: Receives

    def endpoints(self) -> set[tuple[str, str]]:
        return {("POST", self.path), ("OPTIONS", self.path)}


Registration: TypeAlias = MethodSpec | TopicSpec | BindingSpec


class _Scaffold:
    """Registration methods shared by `App` and `Router`."""

    def __init__(self) -> None:
        self._registrations: list[Registration] = []

    @property
    def registrations(self) -> tuple[Registration, ...]:
        """Everything registered so far, in order."""
        return tuple(self._registrations)

    def _register(self, spec: Registration) -> None:
        _check_conflicts(self._registrations, spec)
        self._registrations.append(spec)

    def include_router(self, router: Router) -> None:
        """Replay a router's registrations here; all or nothing if one conflicts."""
        pending = list(self._registrations)
        for spec in router.registrations:
            _check_conflicts(pending, spec)
            pending.append(spec)
        for spec in router.registrations:
            self._register(spec)

    # -- service invocation -------------------------------------------------------------

    def add_method(
        self, name: str, handler: Callable[..., Any], *, methods: Iterable[str] = ("POST",)
    ) -> None:
        """Serve ``VERB /<name>`` for each verb in `methods` (a name may hold path params)."""
        if isinstance(methods, str):
            methods = (methods,)
        verbs = tuple(dict.fromkeys(m.upper() for m in methods))
        if not verbs:
            raise ValueError("methods must name at least one HTTP verb")
        receives = _receives(handler, allow_event=False, namespace=caller_namespace())
        self._register(MethodSpec(name, _path(name), verbs, handler, receives))

    @overload
    def method(self, name: F, /) -> F: ...
    @overload
    def method(self, name: str | None = None, /, *, methods: Iterable[str] = ("POST",)) -> Callable[[F], F]: ...

    def method(self, name: str | F | None = None, /, *, methods: Iterable[str] = ("POST",)) -> F | Callable[[F], F]:
        """Decorator form of `add_method`: ``@app.method``, ``@app.method()`` or
        ``@app.method("name", methods=["GET"])``; `name` defaults to the function's name."""
        verbs = (methods,) if isinstance(methods, str) else tuple(methods)

        def decorator(func: F) -> F:
            self.add_method(_func_name(func) if name is None or callable(name) else name, func, methods=verbs)
            return func

        return decorator(name) if callable(name) else decorator

    # -- pub/sub ------------------------------------------------------------------------

    def add_topic(
        self,
        pubsub: str,
        topic: str,
        handler: Callable[..., Any],
        *,
        route: str | None = None,
        match: str | None = None,
        priority: int = 0,
        dead_letter_topic: str | None = None,
        metadata: Mapping[str, str] | None = None,
        raw_payload: bool = False,
    ) -> None:
        """Subscribe `handler` to `topic` on the `pubsub` component.

        With `match` (a CEL expression over ``event``) the handler is one routing rule of the
        subscription; rules are tried by ascending `priority`, then registration order, and
        the handler registered without `match` is the default. `dead_letter_topic`,
        `metadata` and `raw_payload` belong to the subscription and must agree across its
        handlers. The route defaults to ``/<pubsub>/<topic>`` (plus ``/<function name>`` for
        rule handlers), with characters outside ``[A-Za-z0-9._~-]`` replaced by ``-``.
        """
        if not pubsub or not topic:
            raise ValueError("pubsub and topic must be non-empty")
        meta = {str(k): str(v) for k, v in (metadata or {}).items()}  # Dapr: map<string,string>
        if raw_payload:
            meta["rawPayload"] = "true"
        if route is None:
            route = f"/{_slug(pubsub)}/{_slug(topic)}"
            if match is not None:
                route += f"/{_slug(_func_name(handler))}"
        spec = TopicSpec(
            pubsub=pubsub,
            topic=topic,
            path=_path(route),
            handler=handler,
            receives=_receives(handler, allow_event=True, namespace=caller_namespace()),
            match=match,
            priority=priority,
            dead_letter_topic=dead_letter_topic,
            metadata=meta,
        )
        self._register(spec)

    def topic(
        self,
        pubsub: str,
        topic: str,
        *,
        route: str | None = None,
        match: str | None = None,
        priority: int = 0,
        dead_letter_topic: str | None = None,
        metadata: Mapping[str, str] | None = None,
        raw_payload: bool = False,
    ) -> Callable[[F], F]:
        """Decorator form of `add_topic`."""

        def decorator(func: F) -> F:
            self.add_topic(
                pubsub,
                topic,
                func,
                route=route,
                match=match,
                priority=priority,
                dead_letter_topic=dead_letter_topic,
                metadata=metadata,
                raw_payload=raw_payload,
            )
            return func

        return decorator

    # -- input bindings -----------------------------------------------------------------

    def add_binding(self, name: str, handler: Callable[..., Any], *, route: str | None = None) -> None:
        """Receive events of input binding `name` (route = the name, as in Dapr, unless given)."""
        if not name:
            raise ValueError("binding name must be non-empty")
        path = _path(name if route is None else route)
        receives = _receives(handler, allow_event=False, namespace=caller_namespace())
        self._register(BindingSpec(name, path, handler, receives))

    def binding(self, name: str, *, route: str | None = None) -> Callable[[F], F]:
        """Decorator form of `add_binding`."""

        def decorator(func: F) -> F:
            self.add_binding(name, func, route=route)
            return func

        return decorator


class Router(_Scaffold):
    """Records registrations for ``app.include_router(router)`` (like a Flask blueprint)."""


# -- helpers ----------------------------------------------------------------------------

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VARIADIC = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _receives(handler: Callable[..., Any], *, allow_event: bool, namespace: Mapping[str, Any]) -> Receives:
    """Decide what the handler's parameters receive; fail now rather than per request."""
    if not callable(handler):
        raise TypeError(f"handler must be callable, got {handler!r}")
    where = f"handler {_func_name(handler)!r}"
    annotated = _annotations(handler, namespace)
    params: list[tuple[str, bool, bool]] = []
    payload: tuple[inspect.Parameter, Any] | None = None
    for index, (p, annotation) in enumerate(annotated):
        if p.kind in _VARIADIC:
            continue
        # Positionally while no parameter before it is skipped (the plain call, and positional-only ones).
        positional = p.kind in _POSITIONAL and index == len(params)
        if _is_client(annotation):
            params.append((p.name, positional, False))
        elif payload is None and p.kind in _POSITIONAL:
            payload = (p, annotation)
            params.append((p.name, positional, True))
        elif p.default is p.empty:
            raise TypeError(f"{where} may take at most one argument without a default; {p.name!r} has none")
    if payload is None:
        return Receives(Inject.NOTHING, None, tuple(params))
    param, annotation = payload
    if isinstance(annotation, type):
        if issubclass(annotation, Request):
            return Receives(Inject.REQUEST, None, tuple(params))
        if issubclass(annotation, bytes):
            return Receives(Inject.BYTES, None, tuple(params))
        if issubclass(annotation, CloudEvent):
            if not allow_event:
                raise TypeError(f"{where}: only topic handlers can take a CloudEvent")
            return Receives(Inject.EVENT, None, tuple(params))
    if annotation is inspect.Parameter.empty:
        return Receives(Inject.JSON, None, tuple(params))
    decode = decoder(annotation, where=f"{where} (parameter {param.name!r})", namespace=namespace)
    return Receives(Inject.JSON, decode, tuple(params))


def _annotations(handler: Callable[..., Any], namespace: Mapping[str, Any]) -> list[tuple[inspect.Parameter, Any]]:
    """Each parameter with its annotation evaluated (names local to the registering scope too)."""
    params = list(inspect.signature(handler).parameters.values())
    target = handler if inspect.isroutine(handler) else type(handler).__call__
    module_globals: dict[str, Any] = dict(getattr(inspect.unwrap(target), "__globals__", {}))
    local_names = dict(namespace)
    result = []
    for p in params:
        annotation = p.annotation
        if isinstance(annotation, str):
            try:
                annotation = eval(annotation, module_globals, local_names)  # noqa: S307 - annotations
            except Exception:  # noqa: BLE001 - the names the framework knows, else left as text:
                # refused below if the payload needs it, ignored for a parameter with a default
                annotation = _known_names().get(annotation.rpartition(".")[2].strip(), annotation)
        result.append((p, annotation))
    return result


def _known_names() -> dict[str, type]:
    return {"Request": Request, "bytes": bytes, "CloudEvent": CloudEvent, "Client": Client}


def _is_client(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, Client)


def _check_conflicts(existing: list[Registration], new: Registration) -> None:
    taken = {ep for spec in existing for ep in spec.endpoints()} | RESERVED
    clash = sorted(new.endpoints() & taken)
    if clash:
        verb, path = clash[0]
        raise ValueError(f"{verb} {path} is already served; pass another name or route")
    if not isinstance(new, TopicSpec):
        return
    for old in existing:
        if not isinstance(old, TopicSpec) or (old.pubsub, old.topic) != (new.pubsub, new.topic):
            continue
        where = f"subscription {new.pubsub}/{new.topic}"
        if old.match is None and new.match is None:
            raise ValueError(f"{where} already has a default handler; give this one a match")
        if old.dead_letter_topic and new.dead_letter_topic and old.dead_letter_topic != new.dead_letter_topic:
            raise ValueError(f"{where}: conflicting dead_letter_topic values")
        for key in old.metadata.keys() & new.metadata.keys():
            if old.metadata[key] != new.metadata[key]:
                raise ValueError(f"{where}: conflicting metadata {key!r}")


def _path(route: str) -> str:
    return "/" + route.lstrip("/")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._~-]+", "-", text)


def _func_name(func: Callable[..., Any]) -> str:
    return str(getattr(func, "__name__", type(func).__name__))
