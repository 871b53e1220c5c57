"""The run file of ``tandem run -f``: Dapr's multi-app ``dapr.yaml``, plus Tandem's extras.

Dapr's rules, kept so its files load unchanged: ``version``, ``common`` (any shared key,
applied to each app that does not set it; ``env`` merged key by key), ``apps[]`` with
``appDirPath`` required (relative to the run file's folder) and ``appID`` defaulting to
that folder's name. An app's own paths are relative to its folder, ``common``'s to the
run file's. Resources: the app's ``resourcesPaths``/``resourcesPath``, else
``<appDir>/.dapr/resources`` if it exists, else ``common``'s, else ``~/.tandem/components``.
The configuration file follows the same order (``<appDir>/.dapr/config.yaml``).

Tandem's extras: ``replicas`` (each its own sidecar, same app id), ``appPort: auto`` (a
free port per replica), ``dependsOn`` (start an app once those are healthy), ``restart``
(``on-failure``, ``always``, ``never``) and ``watch`` (file patterns for ``--watch``).
A command starting with a bare ``python``/``python3`` runs on the Python that runs Tandem,
so apps importing ``tandem`` work without activating its virtual environment.
Unknown keys are reported as warnings, not errors: Dapr ignores them too.
"""
from __future__ import annotations

import difflib
import os
import re
import shlex
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ..components.values import parse_size
from ..config import APP_PROTOCOLS
from ..home import default_components_path, default_config_path
from ..observability.logs import LEVELS

__all__ = ["RunFileError", "AppSpec", "RunFile", "find_run_file", "load_run_file", "AUTO_PORT", "DEFAULT_NAMES",
           "NOT_APPLIED"]

DEFAULT_NAMES = ("tandem.yaml", "tandem.yml", "dapr.yaml", "dapr.yml")
#: ``appPort: auto``: every replica gets a free port.
AUTO_PORT = 0
LOG_DESTINATIONS = ("file", "console", "fileAndConsole")
RESTART_POLICIES = ("on-failure", "always", "never")
_LOG_LEVELS = tuple(LEVELS)  # exactly what tandemd's --log-level takes
_APP_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")

# Keys Dapr shares through `common`, and those that only make sense per app.
_SHARED = {
    "configFilePath", "appProtocol", "apiListenAddresses", "enableProfiling", "logLevel", "appMaxConcurrency",
    "placementHostAddress", "schedulerHostAddress", "resourcesPath", "resourcesPaths", "appSSL", "maxBodySize",
    "readBufferSize", "daprHTTPMaxRequestSize", "daprHTTPReadBufferSize", "enableAppHealthCheck",
    "appHealthCheckPath", "appHealthProbeInterval", "appHealthProbeTimeout", "appHealthThreshold",
    "enableApiLogging", "runtimePath", "env", "daprdLogDestination", "appLogDestination",
    "restart", "watch",  # Tandem
}
_PER_APP = {
    "appID", "appDirPath", "appChannelAddress", "appPort", "daprHTTPPort", "daprGRPCPort", "profilePort",
    "command", "metricsPort", "unixDomainSocket", "daprInternalGRPCPort",
    "containerImage", "containerImagePullPolicy", "createService",  # Dapr's Kubernetes mode
    "replicas", "dependsOn",  # Tandem
}
_TOP = {"version", "common", "apps", "name"}
#: Dapr's keys that load but change nothing here, and why (reported once, as warnings, by run -f and doctor).
NOT_APPLIED = {
    "appMaxConcurrency": "the sidecar does not limit concurrent calls to the app",
    "enableProfiling": "the sidecar has no profiling server", "profilePort": "the sidecar has no profiling server",
    "placementHostAddress": "actors are placed without a placement service",
    "schedulerHostAddress": "reminders are kept without a scheduler service",
    "daprGRPCPort": "the sidecar serves no gRPC API", "appSSL": "the app channel is plain HTTP",
    "readBufferSize": "not configurable", "daprHTTPReadBufferSize": "not configurable",
    "enableAppHealthCheck": "app health probing is not implemented (appHealthCheckPath waits for the app to start)",
    "appHealthProbeInterval": "app health probing is not implemented",
    "appHealthThreshold": "app health probing is not implemented",
    "unixDomainSocket": "the sidecar listens on TCP only", "runtimePath": "tandemd comes with Tandem",
    "containerImage": "Kubernetes only", "containerImagePullPolicy": "Kubernetes only",
    "createService": "Kubernetes only",
}


class RunFileError(ValueError):
    """The run file cannot be used; the message says where and why."""


@dataclass(frozen=True)
class AppSpec:
    """One app of a run file, with ``common`` merged in and every path absolute."""

    app_id: str
    app_dir: Path
    command: tuple[str, ...]
    resources_paths: tuple[str, ...]
    config: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    #: None: no app channel; :data:`AUTO_PORT`: a free port per replica.
    app_port: int | None = None
    http_port: int | None = None
    grpc_port: int | None = None
    metrics_port: int | None = None
    internal_port: int | None = None
    app_protocol: str | None = None
    app_channel_address: str | None = None
    listen_addresses: str | None = None
    log_level: str | None = None
    max_body_size: str | None = None
    health_path: str | None = None
    health_timeout: float = 0.5
    enable_api_logging: bool = False
    app_log: str = "fileAndConsole"
    sidecar_log: str = "fileAndConsole"
    replicas: int = 1
    depends_on: tuple[str, ...] = ()
    restart: str = "on-failure"
    #: Patterns (``*`` crosses folders) of the files whose change restarts the app; empty: not watched.
    watch: tuple[str, ...] = ("*",)

    @property
    def log_dir(self) -> Path:
        """Where the app's and its sidecars' log files go (Dapr uses ``<appDir>/.dapr/logs``)."""
        return self.app_dir / ".tandem" / "logs"


@dataclass(frozen=True)
class RunFile:
    path: Path
    apps: tuple[AppSpec, ...]
    name: str | None = None
    warnings: tuple[str, ...] = ()

    def app(self, app_id: str) -> AppSpec | None:
        return next((a for a in self.apps if a.app_id == app_id), None)


def find_run_file(given: str | os.PathLike[str]) -> Path:
    """The run file itself, or the first of :data:`DEFAULT_NAMES` in a folder; absolute."""
    path = Path(given).expanduser().absolute()
    if path.is_dir():
        for name in DEFAULT_NAMES:
            if (path / name).is_file():
                return path / name
        raise RunFileError(f"no run file in {path}: expected one of {', '.join(DEFAULT_NAMES)}")
    if not path.is_file():
        raise RunFileError(f"run file {path} does not exist")
    return path


def load_run_file(given: str | os.PathLike[str], env: Mapping[str, str] | None = None) -> RunFile:
    """Read and check a run file; raises :class:`RunFileError` naming the key at fault."""
    path = find_run_file(given)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise RunFileError(f"cannot read {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise RunFileError(f"{path} is not valid YAML: {exc}") from None
    return _Parser(path, env).parse(doc)


class _Parser:
    def __init__(self, path: Path, env: Mapping[str, str] | None) -> None:
        self.path = path
        self.base = path.parent
        self.env = env
        self.warnings: list[str] = []

    def parse(self, doc: Any) -> RunFile:
        if not isinstance(doc, dict):
            raise RunFileError(f"{self.path}: expected a mapping with 'version' and 'apps'")
        self._unknown(doc, _TOP, "")
        version = doc.get("version", 1)
        if version not in (1, "1"):
            raise RunFileError(f"version: only version 1 is supported, got {version!r}")
        common = doc.get("common") or {}
        if not isinstance(common, dict):
            raise RunFileError("common: expected a mapping of shared keys")
        self._unknown(common, _SHARED, "common.", per_app_note=True)
        apps = doc.get("apps")
        if not isinstance(apps, list) or not apps:
            raise RunFileError("apps: expected a list with at least one app")
        specs = tuple(self._app(i, raw, common) for i, raw in enumerate(apps))
        _check_unique(specs)
        _check_dependencies(specs)
        name = doc.get("name")
        return RunFile(self.path, specs, str(name) if name else None, tuple(self.warnings))

    def _unknown(self, raw: Mapping[str, Any], known: set[str], where: str, per_app_note: bool = False) -> None:
        for key in raw:
            if key in NOT_APPLIED and key in known:
                self.warnings.append(f"{where}{key} is accepted but not applied: {NOT_APPLIED[key]}")
                continue
            if key in known:
                continue
            if per_app_note and key in _PER_APP:
                self.warnings.append(f"{where}{key} applies to one app only; ignored in common")
                continue
            close = difflib.get_close_matches(str(key), sorted(known | (_PER_APP if per_app_note else set())), 1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            self.warnings.append(f"{where}{key} is not a run-file key{hint}; ignored")

    def _app(self, index: int, raw: Any, common: Mapping[str, Any]) -> AppSpec:
        where = f"apps[{index}]"
        if not isinstance(raw, dict):
            raise RunFileError(f"{where}: expected a mapping with appDirPath, command, ...")
        self._unknown(raw, _SHARED | _PER_APP, f"{where}.")
        if not raw.get("appDirPath"):
            raise RunFileError(f"{where}: appDirPath is required (the app's folder, relative to the run file)")
        app_dir = self._existing(raw["appDirPath"], self.base, f"{where}.appDirPath", folder=True)
        # Dapr's merge: a shared key set in `common` applies wherever the app leaves it unset.
        merged = {k: v for k, v in common.items() if k in _SHARED}
        merged.update((k, v) for k, v in raw.items() if v not in (None, ""))
        r = _Reader(merged, where)
        app_id = r.text("appID") or app_dir.name
        if not _APP_ID.match(app_id):
            raise RunFileError(f"{where}.appID: {app_id!r} is not a valid app id (letters, digits, '-' and '_')")
        replicas = r.integer("replicas", 1, minimum=1)
        ports = {key: r.port(key, auto=key == "appPort") for key in
                 ("appPort", "daprHTTPPort", "daprGRPCPort", "metricsPort", "daprInternalGRPCPort")}
        if replicas > 1:
            fixed = [k for k, v in ports.items() if v not in (None, AUTO_PORT)]
            if fixed:
                raise RunFileError(f"{where}.{fixed[0]}: {ports[fixed[0]]} cannot be shared by {replicas} replicas; "
                                   f"leave it out{' or write appPort: auto' if fixed[0] == 'appPort' else ''} "
                                   "so that each replica gets a free port")
        protocol = r.choice("appProtocol", APP_PROTOCOLS, case=False)
        level = r.choice("logLevel", _LOG_LEVELS, case=False)
        max_body = r.text("maxBodySize") or (f"{r.integer('daprHTTPMaxRequestSize', 0)}Mi"
                                             if r.integer("daprHTTPMaxRequestSize", 0) > 0 else None)
        if max_body is not None:
            try:
                parse_size(max_body)
            except ValueError as exc:
                raise RunFileError(f"{where}.maxBodySize: {exc}") from None
        return AppSpec(
            app_id=app_id, app_dir=app_dir, command=r.command("command"),
            resources_paths=self._resources(raw, common, app_dir, where),
            config=self._config(raw, common, app_dir, where),
            env={**_Reader(common, "common").env("env"), **_Reader(raw, where).env("env")},
            app_port=ports["appPort"], http_port=ports["daprHTTPPort"], grpc_port=ports["daprGRPCPort"],
            metrics_port=ports["metricsPort"], internal_port=ports["daprInternalGRPCPort"],
            app_protocol=protocol.lower() if protocol else None,
            app_channel_address=r.text("appChannelAddress"), listen_addresses=r.text("apiListenAddresses"),
            log_level=level.lower() if level else None, max_body_size=max_body,
            health_path=r.text("appHealthCheckPath"), enable_api_logging=r.flag("enableApiLogging"),
            health_timeout=r.integer("appHealthProbeTimeout", 500, minimum=1) / 1000,
            app_log=r.choice("appLogDestination", LOG_DESTINATIONS) or "fileAndConsole",
            sidecar_log=r.choice("daprdLogDestination", LOG_DESTINATIONS) or "fileAndConsole",
            replicas=replicas, depends_on=r.strings("dependsOn"),
            restart=r.choice("restart", RESTART_POLICIES) or "on-failure", watch=r.watch("watch"),
        )

    def _existing(self, value: Any, base: Path, where: str, folder: bool) -> Path:
        if not isinstance(value, str) or not value.strip():
            raise RunFileError(f"{where}: expected a path, got {value!r}")
        path = Path(os.path.normpath(base / Path(value.strip()).expanduser()))
        if not (path.is_dir() if folder else path.is_file()):
            kind = "folder" if folder else "file"
            raise RunFileError(f"{where}: {kind} {value!r} does not exist (looked for {path})")
        return path

    def _paths(self, raw: Mapping[str, Any], base: Path, where: str) -> list[str]:
        found = [str(self._existing(p, base, f"{where}.resourcesPaths", folder=True))
                 for p in _Reader(raw, where).strings("resourcesPaths")]
        single = raw.get("resourcesPath")
        if single:
            found.append(str(self._existing(single, base, f"{where}.resourcesPath", folder=True)))
        return found

    def _resources(
        self, raw: Mapping[str, Any], common: Mapping[str, Any], app_dir: Path, where: str
    ) -> tuple[str, ...]:
        own = self._paths(raw, app_dir, where)
        if own:
            return tuple(own)
        local = app_dir / ".dapr" / "resources"
        if local.is_dir():
            return (str(local),)
        shared = self._paths(common, self.base, "common")
        if shared:
            return tuple(shared)
        home = default_components_path(self.env)
        if not home.is_dir():
            raise RunFileError(f"{where}: no resources path given and no components folder at {home}: "
                               "run `tandem init` first, or set resourcesPaths")
        return (str(home),)

    def _config(self, raw: Mapping[str, Any], common: Mapping[str, Any], app_dir: Path, where: str) -> str | None:
        if raw.get("configFilePath"):
            return str(self._existing(raw["configFilePath"], app_dir, f"{where}.configFilePath", folder=False))
        local = app_dir / ".dapr" / "config.yaml"
        if local.is_file():
            return str(local)
        if common.get("configFilePath"):
            return str(self._existing(common["configFilePath"], self.base, "common.configFilePath", folder=False))
        home = default_config_path(self.env)
        return str(home) if home.is_file() else None


class _Reader:
    """Typed reads of one mapping, with errors that name the key."""

    def __init__(self, raw: Mapping[str, Any], where: str) -> None:
        self.raw, self.where = raw, where

    def _fail(self, key: str, expected: str) -> RunFileError:
        return RunFileError(f"{self.where}.{key}: expected {expected}, got {self.raw[key]!r}")

    def text(self, key: str) -> str | None:
        value = self.raw.get(key)
        if value is None or value == "":
            return None
        if isinstance(value, (dict, list)):
            raise self._fail(key, "a string")
        return str(value).strip()

    def flag(self, key: str) -> bool:
        value = self.raw.get(key)
        if value is None:
            return False
        if isinstance(value, bool):
            return value
        if str(value).strip().lower() in ("true", "false"):
            return str(value).strip().lower() == "true"
        raise self._fail(key, "true or false")

    def integer(self, key: str, default: int, minimum: int | None = None) -> int:
        value = self.raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
            raise self._fail(key, "a whole number")
        number = int(value)
        if minimum is not None and number < minimum:
            raise self._fail(key, f"a whole number of at least {minimum}")
        return number

    def port(self, key: str, auto: bool = False) -> int | None:
        value = self.raw.get(key)
        if auto and isinstance(value, str) and value.strip().lower() == "auto":
            return AUTO_PORT
        if value is None or (not isinstance(value, bool) and value in (0, -1, "0", "-1")):
            return None  # Dapr's "not set"
        expected = "a port (1-65535)" + (" or auto" if auto else "")
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
            raise self._fail(key, expected)
        if not 1 <= int(value) <= 65535:
            raise self._fail(key, expected)
        return int(value)

    def choice(self, key: str, allowed: tuple[str, ...], case: bool = True) -> str | None:
        value = self.text(key)
        if value is None:
            return None
        match = [a for a in allowed if (a == value if case else a.lower() == value.lower())]
        if not match:
            raise self._fail(key, "one of " + ", ".join(allowed))
        return match[0]

    def strings(self, key: str) -> tuple[str, ...]:
        """A YAML list, or one comma-separated string (Dapr's docs show both for resourcesPaths)."""
        value = self.raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        if isinstance(value, list) and all(isinstance(v, (str, int, float)) for v in value):
            return tuple(str(v).strip() for v in value if str(v).strip())
        raise self._fail(key, "a list of strings")

    def command(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key)
        if value is None:
            return ()
        if isinstance(value, str):
            argv = shlex.split(value)
        elif isinstance(value, list) and all(isinstance(v, (str, int, float)) and not isinstance(v, bool)
                                             for v in value):
            argv = [str(v) for v in value]
        else:
            raise self._fail(key, 'a list like ["python3", "app.py"]')
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable
        return tuple(argv)

    def env(self, key: str) -> dict[str, str]:
        value = self.raw.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._fail(key, "a mapping of names to values")
        return {str(k): _env_text(v) for k, v in value.items()}

    def watch(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, True)
        if value is True:
            return ("*",)
        if value is False or value is None:
            return ()
        return self.strings(key)


def _env_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _check_unique(apps: tuple[AppSpec, ...]) -> None:
    seen: dict[str, int] = {}
    for i, app in enumerate(apps):
        if app.app_id in seen:
            raise RunFileError(f"apps[{i}].appID: '{app.app_id}' is also apps[{seen[app.app_id]}]'s id; "
                               "give each app its own id (replicas: N runs copies of one app)")
        seen[app.app_id] = i
    ports: dict[int, str] = {}
    for app in apps:
        for key in ("app_port", "http_port", "grpc_port", "metrics_port", "internal_port"):
            port = getattr(app, key)
            if port in (None, AUTO_PORT):
                continue
            if port in ports:
                raise RunFileError(f"port {port} is used twice: by {ports[port]} and by {app.app_id} ({key})")
            ports[port] = f"{app.app_id} ({key})"


def _check_dependencies(apps: tuple[AppSpec, ...]) -> None:
    ids = {a.app_id for a in apps}
    for i, app in enumerate(apps):
        for dep in app.depends_on:
            if dep == app.app_id:
                raise RunFileError(f"apps[{i}].dependsOn: '{app.app_id}' cannot depend on itself")
            if dep not in ids:
                raise RunFileError(f"apps[{i}].dependsOn: no app with id '{dep}' in this run file "
                                   f"(ids: {', '.join(sorted(ids))})")
    needs = {a.app_id: a.depends_on for a in apps}
    state: dict[str, str] = {}

    def visit(app_id: str, path: list[str]) -> None:
        if state.get(app_id) == "done":
            return
        if state.get(app_id) == "visiting":
            cycle = path[path.index(app_id):] + [app_id]
            raise RunFileError("dependsOn: the apps wait for each other in a cycle: " + " -> ".join(cycle))
        state[app_id] = "visiting"
        for dep in needs[app_id]:
            visit(dep, [*path, app_id])
        state[app_id] = "done"

    for app in apps:
        visit(app.app_id, [])
