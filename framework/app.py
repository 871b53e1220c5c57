"""`App`: the ASGI application that answers the sidecar's calls into the service.

The sidecar calls the app on a few fixed routes (``GET /dapr/subscribe``, ``GET /dapr/config``,
``GET /healthz``) and on the routes of registered handlers (service invocation, topic
deliveries, input-binding events). `App` answers exactly those; every other request, and the
lifespan protocol, goes to the wrapped app unchanged, so an existing FastAPI or Starlette
service gains Dapr handlers without moving::

    api = FastAPI()
    app = App(app=api)                       # serve `app` with uvicorn

    # or, inside a Starlette/FastAPI middleware list:
    Starlette(routes=..., middleware=[tandem_app.middleware()])

The route table is built once, at the first ASGI call (lifespan startup or first request);
from then on registration raises `RuntimeError`, since the sidecar reads the subscriptions
only once at startup anyway.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import logging
import os
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette.websockets import WebSocketClose

from .actors.actor import Actor
from .actors.config import ActorConfig
from .actors.host import ActorHost
from .client import Client
from .errors import Drop, Retry
from .payloads import PayloadError
from .router import (
    BindingSpec,
    CloudEvent,
    Inject,
    MethodSpec,
    Receives,
    Registration,
    TopicSpec,
    _Scaffold,
)
from .tracing import continued

if TYPE_CHECKING:
    import uvicorn

__all__ = ["App", "TandemMiddleware"]

logger = logging.getLogger(__name__)

Endpoint = Callable[[Request], Awaitable[Response]]
ClientSource = Callable[[], Client]
A = TypeVar("A", bound=type[Actor])
DEFAULT_APP_PORT = 8000


class App(_Scaffold):
    """A Tandem service: registered handlers, optionally wrapping another ASGI app.

    `app`: the ASGI app that receives every request `App` does not answer itself.
    `app_id`: the service's Dapr app id, for the application's own use.
    `actor_config`: actor runtime settings for every actor type (`tandem.ActorConfig`).
    `client`: the sidecar client to use (left open: its owner closes it); by default the
    app makes one from the environment when it starts and closes it when it stops.
    """

    def __init__(self, *, app: ASGIApp | None = None, app_id: str | None = None,
                 actor_config: ActorConfig | None = None, client: Client | None = None) -> None:
        super().__init__()
        self.inner = app
        self.app_id = app_id
        self._client = client
        self._owns_client = client is None
        #: Registered actor types and their live activations; actors use the app's client.
        self.actors = ActorHost(actor_config, client=self._client_source)
        self._routes: tuple[Route, ...] | None = None

    @property
    def started(self) -> bool:
        """True once the app has begun serving (registration is then closed)."""
        return self._routes is not None

    def _register(self, spec: Registration) -> None:
        if self._routes is not None:
            raise RuntimeError("the app is already serving; register handlers before it starts")
        super()._register(spec)

    # -- the sidecar client ---------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The app's one sidecar `Client`, shared by handlers (a parameter annotated `Client`)
        and actors. Made from the environment at lifespan startup (or on first use when the
        server runs no lifespan) and closed at lifespan shutdown."""
        if self._client is None:
            self._client = Client.from_env()
        return self._client

    def _client_source(self) -> Client:
        return self.client

    async def aclose(self) -> None:
        """Close the client the app made (a later use makes a new one); lifespan shutdown calls it."""
        client, self._client = (self._client, None) if self._owns_client else (None, self._client)
        if client is not None:
            await client.aclose()
        await self.actors.aclose()

    # -- serving --------------------------------------------------------------------------

    def run(self, *, host: str = "127.0.0.1", port: int | None = None, **options: Any) -> None:
        """Serve the app with uvicorn until interrupted: on `port`, else ``$APP_PORT`` (set by
        ``tandem run`` / ``daprd``), else 8000. `options` go to `uvicorn.Config` (``log_level``...)."""
        import uvicorn

        uvicorn.Server(self.server_config(host=host, port=port, **options)).run()

    def server_config(self, *, host: str = "127.0.0.1", port: int | None = None, **options: Any) -> uvicorn.Config:
        """The `uvicorn.Config` that `run` serves (the environment is read now)."""
        import uvicorn

        if port is None:
            raw = os.environ.get("APP_PORT", "").strip()
            try:
                port = int(raw) if raw else DEFAULT_APP_PORT
            except ValueError:
                raise ValueError(f"APP_PORT must be a port number, got {raw!r}") from None
        options.setdefault("access_log", False)
        return uvicorn.Config(self, host=host, port=port, **options)

    def register_actor(self, actor_class: A, config: ActorConfig | None = None, **settings: Any) -> A:
        """Host an `Actor` subclass; `config` or `ActorConfig` fields as keywords override the
        app's actor settings for this type. Returns the class unchanged."""
        if self.started:
            raise RuntimeError("the app is already serving; register actors before it starts")
        self.actors.register(actor_class, config, **settings)
        return actor_class

    @overload
    def actor(self, actor_class: A, /) -> A: ...
    @overload
    def actor(self, actor_class: None = None, /, *, config: ActorConfig | None = None,
              **settings: Any) -> Callable[[A], A]: ...

    def actor(self, actor_class: A | None = None, /, *, config: ActorConfig | None = None,
              **settings: Any) -> A | Callable[[A], A]:
        """Class decorator form of `register_actor`: ``@app.actor`` or ``@app.actor(idle_timeout=60)``."""
        if actor_class is not None:
            return self.register_actor(actor_class)

        def decorator(cls: A) -> A:
            return self.register_actor(cls, config, **settings)

        return decorator

    def middleware(self) -> Middleware:
        """This app as Starlette middleware: ``Starlette(middleware=[app.middleware()])``."""
        return Middleware(TandemMiddleware, app_=self)

    # -- what the sidecar reads at startup ---------------------------------------------

    def subscriptions(self) -> list[dict[str, Any]]:
        """The ``GET /dapr/subscribe`` payload: one entry per (pubsub, topic)."""
        groups: dict[tuple[str, str], list[TopicSpec]] = {}
        for spec in self._registrations:
            if isinstance(spec, TopicSpec):
                groups.setdefault((spec.pubsub, spec.topic), []).append(spec)
        result: list[dict[str, Any]] = []
        for (pubsub, topic), specs in groups.items():
            entry: dict[str, Any] = {"pubsubname": pubsub, "topic": topic}
            rules = sorted((s for s in specs if s.match is not None), key=lambda s: s.priority)
            default = next((s.path for s in specs if s.match is None), None)
            if rules:
                routes: dict[str, Any] = {"rules": [{"match": s.match, "path": s.path} for s in rules]}
                if default is not None:
                    routes["default"] = default
                entry["routes"] = routes
            else:
                entry["route"] = default
            dead_letter = next((s.dead_letter_topic for s in specs if s.dead_letter_topic), None)
            if dead_letter:
                entry["deadLetterTopic"] = dead_letter
            metadata: dict[str, str] = {}
            for s in specs:
                metadata.update(s.metadata)
            if metadata:
                entry["metadata"] = metadata
            result.append(entry)
        return result

    def app_config(self) -> dict[str, Any]:
        """The ``GET /dapr/config`` payload (Dapr's ApplicationConfig): the hosted actor types."""
        return self.actors.app_config()

    # -- ASGI ---------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.dispatch(scope, receive, send, self.inner)

    async def dispatch(self, scope: Scope, receive: Receive, send: Send, inner: ASGIApp | None) -> None:
        """Answer our routes; hand everything else to `inner` (404/405 when there is none)."""
        routes = self._routes if self._routes is not None else self._build()
        if scope["type"] == "lifespan":
            receive, send = self._lifespan(receive, send)
        if scope["type"] == "http":
            partial: Route | None = None
            for route in routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    with continued(scope):  # the handler runs in the sidecar's trace
                        await route.app(scope, receive, send)
                    return
                if match is Match.PARTIAL and partial is None:
                    partial = route
            if inner is None:
                if partial is not None:
                    allow = ", ".join(sorted(partial.methods or ()))
                    response: Response = PlainTextResponse("Method Not Allowed", 405, {"Allow": allow})
                else:
                    response = PlainTextResponse("Not Found", 404)
                await response(scope, receive, send)
                return
        elif inner is None:
            if scope["type"] == "lifespan":
                await _empty_lifespan(receive, send)
            elif scope["type"] == "websocket":
                await WebSocketClose()(scope, receive, send)
            return
        await inner(scope, receive, send)

    def _lifespan(self, receive: Receive, send: Send) -> tuple[Receive, Send]:
        """Wrap the lifespan channel: the client is made as the server starts and closed once
        everything (the wrapped app's own shutdown too) has stopped."""

        async def receive_wrapped() -> Message:
            message = await receive()
            if message["type"] == "lifespan.startup":
                _ = self.client  # made now, from the environment the server starts in
            return message

        async def send_wrapped(message: Message) -> None:
            if message["type"] in ("lifespan.shutdown.complete", "lifespan.shutdown.failed",
                                   "lifespan.startup.failed"):
                await self.aclose()
            await send(message)

        return receive_wrapped, send_wrapped

    def _build(self) -> tuple[Route, ...]:
        subscribe = json.dumps(self.subscriptions(), separators=(",", ":")).encode()
        config = json.dumps(self.app_config(), separators=(",", ":")).encode()
        routes = [
            Route("/dapr/subscribe", _static(subscribe), methods=["GET"]),
            Route("/dapr/config", _static(config), methods=["GET"]),
            Route("/healthz", _healthz, methods=["GET"]),
        ]
        if self.actors.entities:
            routes += self.actors.routes()
        for spec in self._registrations:
            if isinstance(spec, MethodSpec):
                endpoint = _invocation(spec.handler, spec.receives, self._client_source)
                routes.append(Route(spec.path, endpoint, methods=list(spec.methods)))
            elif isinstance(spec, TopicSpec):
                routes.append(Route(spec.path, _delivery(spec, self._client_source), methods=["POST"]))
            elif isinstance(spec, BindingSpec):
                routes.append(Route(spec.path, _binding(spec, self._client_source), methods=["POST", "OPTIONS"]))
        self._routes = tuple(routes)
        return self._routes


class TandemMiddleware:
    """Starlette middleware form of `App`: ``Middleware(TandemMiddleware, app_=tandem_app)``."""

    def __init__(self, app: ASGIApp, app_: App) -> None:
        self.app = app
        self.tandem = app_

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.tandem.dispatch(scope, receive, send, self.app)


# -- endpoints --------------------------------------------------------------------------


def _static(body: bytes) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        return Response(body, media_type="application/json")

    return endpoint


async def _healthz(request: Request) -> Response:
    return Response(status_code=200)


def _invocation(handler: Callable[..., Any], receives: Receives, client: ClientSource) -> Endpoint:
    """Service invocation (and binding events): body in, handler's result out."""
    call = _caller(handler, receives, client)

    async def endpoint(request: Request) -> Response:
        try:
            arg = await _request_arg(request, receives)
        except ValueError:
            return _error(400, "ERR_MALFORMED_REQUEST", "request body is not valid JSON")
        if receives.decode is not None:
            try:
                arg = receives.decode(arg)
            except PayloadError as exc:
                return _error(400, "ERR_MALFORMED_REQUEST", _misfit(handler, exc))
        try:
            return _to_response(await call(arg))
        except HTTPException as exc:
            return _http_exception(exc)
        except Exception as exc:  # noqa: BLE001 - any handler failure is the caller's 500
            return _handler_failed(handler, exc)

    return endpoint


def _binding(spec: BindingSpec, client: ClientSource) -> Endpoint:
    invoke = _invocation(spec.handler, spec.receives, client)

    async def endpoint(request: Request) -> Response:
        if request.method == "OPTIONS":  # the sidecar's startup probe: "do you want events?"
            return Response(status_code=200)
        return await invoke(request)

    return endpoint


def _delivery(spec: TopicSpec, client: ClientSource) -> Endpoint:
    """A pub/sub delivery: CloudEvent in, Dapr's ``{"status": ...}`` out."""
    call = _caller(spec.handler, spec.receives, client)
    inject = spec.receives.inject

    async def endpoint(request: Request) -> Response:
        try:
            event = _parse_event(await request.body())
        except ValueError as exc:
            # Redelivering a malformed envelope cannot help: drop it (to the dead-letter topic).
            logger.warning("dropping malformed event on %s: %s", spec.path, exc)
            return _status("DROP")
        if inject is Inject.REQUEST:
            arg: Any = request
        elif inject is Inject.EVENT:
            arg = event
        elif inject is Inject.BYTES:
            arg = _as_bytes(event.data)
        else:
            arg = _as_json(event.data)
        if spec.receives.decode is not None:
            try:
                arg = spec.receives.decode(arg)
            except PayloadError as exc:
                # The same event can never fit: redelivering it would loop forever, so DROP it.
                logger.warning("dropping event %s on %s: %s", event.id or "(no id)", spec.path,
                               _misfit(spec.handler, exc))
                return _status("DROP")
        try:
            result = await call(arg)
        except Retry:
            return _status("RETRY")
        except Drop:
            return _status("DROP")
        except HTTPException as exc:
            return _http_exception(exc)
        except Exception as exc:  # noqa: BLE001 - a 500 makes the sidecar redeliver
            return _handler_failed(spec.handler, exc)
        return result if isinstance(result, Response) else _status("SUCCESS")

    return endpoint


# -- helpers ----------------------------------------------------------------------------


def _caller(handler: Callable[..., Any], receives: Receives,
            client: ClientSource) -> Callable[[Any], Awaitable[Any]]:
    """Call with the payload and the client where the handler takes them; sync handlers run
    in the threadpool."""
    is_async = inspect.iscoroutinefunction(handler) or (
        not inspect.isroutine(handler) and inspect.iscoroutinefunction(type(handler).__call__)
    )

    async def call(arg: Any) -> Any:
        args, kwargs = receives.arguments(arg, client)
        result = handler(*args, **kwargs) if is_async else await run_in_threadpool(handler, *args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
        return result

    return call


async def _request_arg(request: Request, receives: Receives) -> Any:
    inject = receives.inject
    if inject is Inject.REQUEST:
        return request
    if inject is Inject.NOTHING:
        return None
    body = await request.body()
    if inject is Inject.BYTES:
        return body
    return json.loads(body) if body.strip() else None


def _misfit(handler: Callable[..., Any], exc: PayloadError) -> str:
    name = getattr(handler, "__qualname__", repr(handler))
    return f"the payload does not fit {exc.target} (handler {name}): {exc}"


def _parse_event(body: bytes) -> CloudEvent:
    """A CloudEvent from the body; a non-CloudEvent body becomes the `data` of a bare one."""
    try:
        payload = json.loads(body) if body.strip() else None
    except ValueError:
        return CloudEvent(data=body)
    if isinstance(payload, dict) and "specversion" in payload:
        return CloudEvent.from_dict(payload)
    return CloudEvent(data=payload)


def _as_bytes(data: Any) -> bytes:
    if isinstance(data, bytes):
        return data
    if data is None:
        return b""
    if isinstance(data, str):
        return data.encode()
    return json.dumps(data, separators=(",", ":")).encode()


def _as_json(data: Any) -> Any:
    """Binary data (``data_base64``) is decoded as JSON when it is JSON, else passed as bytes."""
    if isinstance(data, bytes):
        try:
            return json.loads(data)
        except ValueError:
            return data
    return data


def _to_response(result: Any) -> Response:
    if isinstance(result, Response):
        return result
    if result is None:
        return Response(status_code=204)
    if isinstance(result, (bytes, bytearray, memoryview)):
        return Response(bytes(result), media_type="application/octet-stream")
    if isinstance(result, str):
        return PlainTextResponse(result)
    if dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    return JSONResponse(result)


def _status(status: str) -> Response:
    return JSONResponse({"status": status})


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"errorCode": code, "message": message}, status_code=status)


def _http_exception(exc: HTTPException) -> Response:
    if exc.status_code in (204, 304):
        return Response(status_code=exc.status_code, headers=exc.headers)
    return PlainTextResponse(exc.detail, status_code=exc.status_code, headers=exc.headers)


def _handler_failed(handler: Callable[..., Any], exc: Exception) -> Response:
    # The exception text may hold private data; it goes to the log, only its type to the caller.
    name = getattr(handler, "__qualname__", repr(handler))
    logger.error("handler %s failed", name, exc_info=exc)
    return _error(500, "ERR_APP_HANDLER", f"{type(exc).__name__} in handler {name}")


async def _empty_lifespan(receive: Receive, send: Send) -> None:
    """The lifespan protocol when there is no inner app: nothing to start or stop."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
