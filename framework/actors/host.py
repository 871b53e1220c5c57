"""`ActorHost`: the actor side of an `App` — registered types, live activations, and the
routes the sidecar calls (spec §5.2)::

    PUT    /actors/{type}/{id}/method/{method}      a method call: body in, JSON result out
    PUT    /actors/{type}/{id}/method/timer/{name}  {"callback", "data", "dueTime", "period"}
    PUT    /actors/{type}/{id}/method/remind/{name} {"data", "dueTime", "period"}
    DELETE /actors/{type}/{id}                      deactivate (200 even when not active)

The sidecar already runs one turn per actor at a time; the host keeps its own lock per
activation as well, so that holds whoever calls, and lets a turn through at once when it
carries the ``Dapr-Reentrancy-Id`` of the turn in progress (A → B → A).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from ..payloads import Decode, PayloadError, caller_namespace, decoder
from .actor import Actor, CancelReminder, callback_target, method_table
from .calls import REENTRANCY_HEADER, reentrancy_id
from .config import ActorConfig, config_document

if TYPE_CHECKING:
    from ..client import Client

__all__ = ["ActorHost"]

logger = logging.getLogger(__name__)

CANCEL_HEADER = "X-DaprReminderCancel"


@dataclass(frozen=True)
class _ActorType:
    cls: type[Actor]
    methods: dict[str, str]
    config: ActorConfig
    #: attribute name → parameter name → decoder, for every actor method (typed payloads)
    decoders: dict[str, dict[str, Decode]] = field(default_factory=dict)
    namespace: dict[str, Any] = field(default_factory=dict)

    def decoders_of(self, attr: str) -> dict[str, Decode]:
        """The decoders of `attr`; a timer callback that is no actor method gets them on first use."""
        found = self.decoders.get(attr)
        if found is None:
            found = self.decoders[attr] = _param_decoders(getattr(self.cls, attr), self.namespace,
                                                         f"{self.cls.__name__}.{attr}")
        return found


@dataclass(eq=False)
class _Activation:
    actor: Actor
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    reentrancy_id: str | None = None
    activated: bool = False
    gone: bool = False

    @contextlib.asynccontextmanager
    async def turn(self, rid: str | None) -> AsyncIterator[None]:
        """Hold the actor for one turn; a turn of the chain already holding it walks in."""
        if rid is not None and rid == self.reentrancy_id:
            yield
            return
        async with self.lock:
            self.reentrancy_id = rid
            try:
                yield
            finally:
                self.reentrancy_id = None


class _BadRequest(Exception):
    pass


class _StateSaveFailed(Exception):
    pass


class ActorHost:
    """Actor types hosted by one app, and their activations (``app.actors``)."""

    def __init__(self, config: ActorConfig | None = None, *,
                 client: Callable[[], Client] | None = None) -> None:
        self.config = config or ActorConfig()
        self._types: dict[str, _ActorType] = {}
        self._activations: dict[tuple[str, str], _Activation] = {}
        self._source = client
        self._client: Client | None = None
        self._owns_client = False

    # -- registration and configuration -------------------------------------------------

    def register(self, actor_class: type[Actor], config: ActorConfig | None = None, **settings: Any) -> None:
        """Host `actor_class`; `config` / `settings` (`ActorConfig` fields) override the app's for it."""
        if not (inspect.isclass(actor_class) and issubclass(actor_class, Actor)) or actor_class is Actor:
            raise TypeError(f"register a subclass of tandem.Actor, not {actor_class!r}")
        name = actor_class.actor_type
        if name in self._types:
            raise ValueError(f"actor type {name!r} is already registered")
        overrides = (config or ActorConfig()).merged(ActorConfig(**settings) if settings else None)
        methods, namespace = method_table(actor_class), caller_namespace()
        decoders = {attr: _param_decoders(getattr(actor_class, attr), namespace, f"{actor_class.__name__}.{attr}")
                    for attr in methods.values()}
        self._types[name] = _ActorType(actor_class, methods, overrides, decoders, namespace)

    @property
    def entities(self) -> list[str]:
        """The registered actor type names, in registration order."""
        return list(self._types)

    def app_config(self) -> dict[str, Any]:
        """The ``GET /dapr/config`` payload."""
        return config_document(self.entities, self.config, {n: t.config for n, t in self._types.items()})

    # -- the client actors use ------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The sidecar client given to actors: one set with `use_client`, else the app's
        (``App.client``), else one made from the environment on first use."""
        if self._client is None:
            if self._source is not None:
                return self._source()
            from ..client import Client

            self._client, self._owns_client = Client.from_env(), True
        return self._client

    def use_client(self, client: Client) -> None:
        """Give actors this client (left open by the host: its owner closes it)."""
        self._client, self._owns_client = client, False

    async def aclose(self) -> None:
        """Close the client the host made itself, if any."""
        client, owned = self._client, self._owns_client
        if owned and client is not None:
            self._client, self._owns_client = None, False
            await client.aclose()

    # -- activations --------------------------------------------------------------------

    def active(self) -> dict[tuple[str, str], Actor]:
        """The live actors by (type, id)."""
        return {key: a.actor for key, a in self._activations.items()}

    async def deactivate(self, actor_type: str, actor_id: str) -> bool:
        """Run `on_deactivate` and forget the actor; False when it was not active."""
        activation = self._activations.get((actor_type, actor_id))
        if activation is None:
            return False
        async with activation.turn(None):
            if activation.gone:
                return False
            self._forget(actor_type, actor_id, activation)
            activation.actor.state.drop()
            if activation.activated:
                await _call(activation.actor.on_deactivate)
        return True

    def _forget(self, actor_type: str, actor_id: str, activation: _Activation) -> None:
        activation.gone = True
        if self._activations.get((actor_type, actor_id)) is activation:
            del self._activations[(actor_type, actor_id)]

    async def _turn(self, kind: _ActorType, actor_id: str, rid: str | None,
                    work: Callable[[Actor], Awaitable[Any]]) -> Any:
        """Run `work` as one turn: activate if needed, then save the state it changed."""
        key = (kind.cls.actor_type, actor_id)
        while True:
            activation = self._activations.get(key)
            if activation is None:
                activation = self._activations[key] = _Activation(kind.cls(actor_id, self.client))
            async with activation.turn(rid):
                if activation.gone:  # deactivated while this call waited: start a new one
                    continue
                token = reentrancy_id.set(rid)
                actor = activation.actor
                try:
                    if not activation.activated:
                        await _call(actor.on_activate)
                        activation.activated = True
                    result = await work(actor)
                    try:
                        await actor.state.save()
                    except Exception as exc:
                        raise _StateSaveFailed(str(exc)) from exc
                    return result
                except BaseException:
                    actor.state.drop()
                    if not activation.activated:
                        self._forget(*key, activation)
                    raise
                finally:
                    reentrancy_id.reset(token)

    # -- routes -------------------------------------------------------------------------

    def routes(self) -> list[Route]:
        """The routes the sidecar calls on the app (reminder and timer routes first)."""
        base = "/actors/{actor_type}/{actor_id}"
        return [
            Route(base + "/method/remind/{name}", self._remind_endpoint, methods=["PUT"]),
            Route(base + "/method/timer/{name}", self._timer_endpoint, methods=["PUT"]),
            Route(base + "/method/{method}", self._method_endpoint, methods=["PUT"]),
            Route(base, self._deactivate_endpoint, methods=["DELETE"]),
        ]

    async def _method_endpoint(self, request: Request) -> Response:
        params = request.path_params
        kind, method = self._types.get(params["actor_type"]), params["method"]
        if kind is None:
            return _unknown_type(params["actor_type"])
        attr = kind.methods.get(method)
        if attr is None:
            return _error(404, "ERR_ACTOR_METHOD_NOT_FOUND",
                          f"actor type {kind.cls.actor_type!r} has no method {method!r}")
        where = f"actor method {kind.cls.actor_type}.{method}"
        try:
            present, value = _json_body(await request.body())
            args, kwargs = _arguments(getattr(kind.cls, attr), present, value, where, kind.decoders_of(attr))
        except _BadRequest as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", str(exc))

        async def work(actor: Actor) -> Any:
            return await _call(getattr(actor, attr), *args, **kwargs)

        return await self._answer(kind, params["actor_id"], request, work, where, _result)

    async def _timer_endpoint(self, request: Request) -> Response:
        params = request.path_params
        kind = self._types.get(params["actor_type"])
        if kind is None:
            return _unknown_type(params["actor_type"])
        where = f"timer {params['name']!r} of {kind.cls.actor_type}"
        try:
            doc = _json_object(await request.body(), "timer")
            callback = doc.get("callback")
            if not isinstance(callback, str) or not callback:
                raise _BadRequest("the timer request names no callback")
            attr = callback_target(kind.cls, callback)
            if attr is None:
                return _error(404, "ERR_ACTOR_METHOD_NOT_FOUND",
                              f"actor type {kind.cls.actor_type!r} has no method {callback!r} for {where}")
            args, kwargs = _arguments(getattr(kind.cls, attr), "data" in doc, doc.get("data"), where,
                                      kind.decoders_of(attr))
        except _BadRequest as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", str(exc))
        except TypeError as exc:  # a plain method as callback, with an annotation no payload can fit
            logger.error("%s cannot be called: %s", where, exc)
            return _error(500, "ERR_ACTOR_METHOD", str(exc))

        async def work(actor: Actor) -> Any:
            return await _cancellable(_call(getattr(actor, attr), *args, **kwargs))

        return await self._answer(kind, params["actor_id"], request, work, where, _callback_result)

    async def _remind_endpoint(self, request: Request) -> Response:
        params = request.path_params
        kind, name = self._types.get(params["actor_type"]), params["name"]
        if kind is None:
            return _unknown_type(params["actor_type"])
        where = f"reminder {name!r} of {kind.cls.actor_type}"
        try:
            doc = _json_object(await request.body(), "reminder")
        except _BadRequest as exc:
            return _error(400, "ERR_MALFORMED_REQUEST", str(exc))

        async def work(actor: Actor) -> Any:
            return await _cancellable(_call(actor.receive_reminder, name, doc.get("data"),
                                            _text(doc.get("dueTime")), _text(doc.get("period"))))

        return await self._answer(kind, params["actor_id"], request, work, where, _callback_result)

    async def _deactivate_endpoint(self, request: Request) -> Response:
        actor_type, actor_id = request.path_params["actor_type"], request.path_params["actor_id"]
        try:
            await self.deactivate(actor_type, actor_id)
        except Exception as exc:  # noqa: BLE001 - the actor is gone anyway; report the hook's failure
            logger.error("on_deactivate of %s/%s failed", actor_type, actor_id, exc_info=exc)
            return _error(500, "ERR_ACTOR_DEACTIVATE", f"{type(exc).__name__} in on_deactivate of {actor_type}")
        return Response(status_code=200)

    async def _answer(self, kind: _ActorType, actor_id: str, request: Request,
                      work: Callable[[Actor], Awaitable[Any]], where: str,
                      respond: Callable[[Any], Response]) -> Response:
        rid = request.headers.get(REENTRANCY_HEADER) or None
        try:
            result = await self._turn(kind, actor_id, rid, work)
        except _StateSaveFailed as exc:
            logger.error("saving the state after %s failed: %s", where, exc)
            return _error(500, "ERR_ACTOR_STATE_SAVE", f"saving the state after {where} failed: {exc}")
        except HTTPException as exc:
            return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)
        except Exception as exc:  # noqa: BLE001 - any failure of the actor's code is the caller's 500
            # The text may hold private data: it goes to the log, only the type to the caller.
            logger.error("%s failed (actor id %r)", where, actor_id, exc_info=exc)
            return _error(500, "ERR_ACTOR_METHOD", f"{type(exc).__name__} in {where}")
        return respond(result)


# -- helpers ----------------------------------------------------------------------------


async def _call(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Await an async callable; run a sync one in the threadpool (it may still return an awaitable)."""
    if inspect.iscoroutinefunction(func):
        return await func(*args, **kwargs)
    result = await run_in_threadpool(func, *args, **kwargs)
    return await result if inspect.isawaitable(result) else result


_CANCELLED: Any = object()


async def _cancellable(pending: Awaitable[Any]) -> Any:
    """A timer or reminder callback: `CancelReminder` raised or returned means "stop"."""
    try:
        result = await pending
    except CancelReminder:
        return _CANCELLED
    cancel = isinstance(result, CancelReminder) or result is CancelReminder
    return _CANCELLED if cancel else None


def _callback_result(result: Any) -> Response:
    return Response(status_code=200, headers={CANCEL_HEADER: "true"} if result is _CANCELLED else None)


def _result(result: Any) -> Response:
    """A method's result: a Response as is, bytes as bytes, anything else as JSON (status 200)."""
    if isinstance(result, Response):
        return result
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    try:
        body = json.dumps(result, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as exc:
        return _error(500, "ERR_ACTOR_METHOD", f"the result is not JSON-encodable: {exc}")
    return Response(body, media_type="application/json")


def _json_body(body: bytes) -> tuple[bool, Any]:
    """(whether there is a body, its decoded JSON)."""
    if not body.strip():
        return False, None
    try:
        return True, json.loads(body)
    except ValueError as exc:
        raise _BadRequest(f"the request body is not valid JSON: {exc}") from None


def _json_object(body: bytes, what: str) -> dict[str, Any]:
    present, doc = _json_body(body)
    if not present:
        return {}
    if not isinstance(doc, dict):
        raise _BadRequest(f"the {what} request body must be a JSON object")
    return doc


_SINGLE = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
           inspect.Parameter.KEYWORD_ONLY)


def _arguments(func: Callable[..., Any], present: bool, value: Any, where: str,
               decoders: dict[str, Decode]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Map the decoded body onto the parameters of `func` (a plain function: ``self`` first),
    each converted to its annotated type."""
    signature = inspect.signature(func)
    params = list(signature.parameters.values())[1:]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = {}
    if not params:
        if present and value is not None:
            raise _BadRequest(f"{where} takes no arguments, but the request has a body")
    elif present and len(params) == 1 and params[0].kind in _SINGLE:
        if params[0].kind is inspect.Parameter.KEYWORD_ONLY:
            kwargs = {params[0].name: value}
        else:
            args = (value,)
    elif present:
        if isinstance(value, dict):
            kwargs = value
        elif isinstance(value, list):
            args = tuple(value)
        else:
            args = (value,)
    try:
        bound = signature.bind(None, *args, **kwargs)
    except TypeError as exc:
        raise _BadRequest(f"bad arguments for {where}: {exc}") from None
    kinds = signature.parameters
    for name, given in list(bound.arguments.items())[1:]:
        decode = decoders.get(name)
        if decode is None:
            continue
        try:
            if kinds[name].kind is inspect.Parameter.VAR_POSITIONAL:
                bound.arguments[name] = tuple(decode(v) for v in given)
            elif kinds[name].kind is inspect.Parameter.VAR_KEYWORD:
                bound.arguments[name] = {k: decode(v) for k, v in given.items()}
            else:
                bound.arguments[name] = decode(given)
        except PayloadError as exc:
            raise _BadRequest(f"the payload does not fit {where}: parameter {name!r}: {exc}") from None
    return bound.args[1:], bound.kwargs


def _param_decoders(func: Callable[..., Any], namespace: dict[str, Any], where: str) -> dict[str, Decode]:
    """A decoder for each annotated parameter of an actor method; `TypeError` for one that cannot be honoured."""
    try:
        signature = inspect.signature(func, eval_str=True, locals=namespace)
    except Exception as exc:  # noqa: BLE001 - a name not visible where the actor was registered
        raise TypeError(f"actor method {where}: its annotations cannot be resolved ({exc})") from None
    decoders: dict[str, Decode] = {}
    for p in list(signature.parameters.values())[1:]:
        if p.annotation is not p.empty:
            decoders[p.name] = decoder(p.annotation, where=f"actor method {where} (parameter {p.name!r})",
                                       namespace=namespace)
    return decoders


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _error(status: int, code: str, message: str) -> Response:
    body = json.dumps({"errorCode": code, "message": message}).encode()
    return Response(body, status_code=status, media_type="application/json")


def _unknown_type(actor_type: str) -> Response:
    return _error(404, "ERR_ACTOR_TYPE_NOT_FOUND", f"this app hosts no actor type {actor_type!r}")
