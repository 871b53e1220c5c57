"""The internal hop's secret: what a sidecar shows another sidecar's internal port.

Every sidecar of one ``TANDEM_HOME`` shares one random secret, kept in
``$TANDEM_HOME/private/internal-secret`` (folder 0700, file 0600, made on first
use). The calling sidecar sends it in :data:`HEADER` on every internal request;
the internal port checks it before anything else, so a local process that read
the port from the run directory cannot reach the app through it, whatever
caller id it claims. Sidecars on several hosts share one secret given
explicitly (``TANDEM_INTERNAL_SECRET``, or ``--internal-secret-file``). Mutual
TLS between sidecars will replace this.
"""
from __future__ import annotations

import hmac
import logging
import os
import secrets
import stat
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from .api.responses import send_error
from .errors import DaprError
from .proxy import INTERNAL_SECRET_HEADER

__all__ = ["HEADER", "ENV", "SecretError", "RequireInternalSecret", "private_folder", "machine_secret",
           "resolve_secret"]

log = logging.getLogger("tandem.sidecar")

HEADER = INTERNAL_SECRET_HEADER
#: The secret itself, for sidecars that must share one across hosts.
ENV = "TANDEM_INTERNAL_SECRET"
PRIVATE_DIR = "private"
SECRET_FILE = "internal-secret"
_MIN_LENGTH = 16
_HEADER = HEADER.encode()


class SecretError(Exception):
    """The secret cannot be read or made; the message says which file and why."""


def private_folder(home: Path) -> Path:
    """``$TANDEM_HOME/private``: made 0700 if missing; refused if it is a link or another user's."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder = home / PRIVATE_DIR
    try:
        os.mkdir(folder, 0o700)
    except FileExistsError:
        pass
    info = os.lstat(folder)
    if not stat.S_ISDIR(info.st_mode):
        raise SecretError(f"{folder} must be a folder (it is a link or a file)")
    if info.st_uid != os.geteuid():
        raise SecretError(f"{folder} belongs to another user")
    if info.st_mode & 0o077:
        os.chmod(folder, 0o700)
    return folder


def _read(path: Path, *, private: bool) -> str:
    """The secret in ``path``; with ``private``, a file others may read is refused (ssh's rule)."""
    flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    fd = os.open(path, flags if private else flags & ~os.O_NOFOLLOW)
    with os.fdopen(fd, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"{path} is not a regular file")
        if private and (info.st_uid != os.geteuid() or info.st_mode & 0o077):
            raise SecretError(f"{path} may be read by other users: delete it (a new one is made) or chmod 600 it")
        text = file.read(4096).decode("utf-8", "replace").strip()
    if len(text) < _MIN_LENGTH:
        raise SecretError(f"{path} holds no secret of at least {_MIN_LENGTH} characters")
    return text


def machine_secret(home: Path) -> str:
    """This ``TANDEM_HOME``'s secret, made on first use.

    Written to a private temporary file (0600 from its creation) and linked
    into place, so it is never readable by others and a sidecar that made one
    at the same moment never replaces the one the first sidecar uses.
    """
    folder = private_folder(home)
    path = folder / SECRET_FILE
    try:
        return _read(path, private=True)
    except FileNotFoundError:
        pass
    temporary = folder / f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(secrets.token_urlsafe(32).encode() + b"\n")
            file.flush()
            os.fsync(file.fileno())
        try:
            os.link(temporary, path)
        except FileExistsError:
            pass  # another sidecar made it first: use theirs
    finally:
        os.unlink(temporary)
    return _read(path, private=True)


def resolve_secret(home: Path, explicit: str | None = None, file: Path | None = None) -> str:
    """The secret to use: read from ``file`` (the flag), given as text (the env var), or this home's own."""
    try:
        if file is not None:
            return _read(file, private=False)
        if explicit is not None:
            if len(explicit.strip()) < _MIN_LENGTH:
                raise SecretError(f"{ENV} must be at least {_MIN_LENGTH} characters long")
            return explicit.strip()
        return machine_secret(home)
    except OSError as exc:
        raise SecretError(f"the internal secret cannot be read or made: {exc.filename or home}: "
                          f"{exc.strerror or exc}") from None


_MISSING = DaprError(401, "ERR_UNAUTHENTICATED",
                     f"the internal port serves other sidecars only: the {HEADER} header is missing")
_WRONG = DaprError(403, "ERR_PERMISSION_DENIED",
                   f"the internal port serves other sidecars only: the {HEADER} header is wrong "
                   f"(sidecars on several hosts must share one secret: {ENV})")


class RequireInternalSecret:
    """The internal port's first check: the request carries the shared secret, compared in constant time.

    A refused request never goes further (nothing is read, logged as a call or
    forwarded); an accepted one goes on without the header, so the app never sees it.
    """

    def __init__(self, app: ASGIApp, secret: str) -> None:
        self.app = app
        self._secret = secret.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1008})
                return
            await self.app(scope, receive, send)
            return
        given: list[bytes] = []
        headers = []
        for name, value in scope["headers"]:
            if name == _HEADER:
                given.append(value)
            else:
                headers.append((name, value))
        if not given:
            await send_error(send, _MISSING, close=True)
            return
        # One copy only: two could not both be right, and a proxy in between must not pick one for us.
        if len(given) != 1 or not hmac.compare_digest(given[0], self._secret):
            await send_error(send, _WRONG, close=True)
            return
        await self.app({**scope, "headers": headers}, receive, send)
