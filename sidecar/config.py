"""The sidecar's settings, gathered in one typed object from flags and environment."""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .home import tandem_home

__all__ = ["RuntimeConfig", "DEFAULT_MAX_BODY_SIZE", "APP_PROTOCOLS"]

DEFAULT_MAX_BODY_SIZE = 4 * 1024 * 1024
#: The app channels the sidecar speaks; ``tandem run``, run files and ``tandemd`` all offer exactly these.
APP_PROTOCOLS = ("http",)


@dataclass(frozen=True)
class RuntimeConfig:
    """Everything ``tandemd`` needs to start; built by the CLI, never at import."""

    app_id: str = ""
    http_port: int = 3500
    #: Where other sidecars call this one (0: any free port), like daprd's internal gRPC port.
    internal_port: int = 0
    listen_addresses: tuple[str, ...] = ("127.0.0.1",)
    app_port: int | None = None
    app_channel_address: str = "127.0.0.1"
    app_protocol: str = "http"
    resources_paths: tuple[Path, ...] = ()
    config_path: Path | None = None
    log_level: str = "info"
    log_as_json: bool = False
    #: ``--metrics-port``: Prometheus metrics on ``GET /metrics`` (0: any free port).
    metrics_port: int = 9090
    enable_metrics: bool = True
    #: ``--enable-api-logging``; None leaves it to the Configuration's ``logging.apiLogging.enabled``.
    enable_api_logging: bool | None = None
    max_body_size: int = DEFAULT_MAX_BODY_SIZE
    #: ``--http-read-header-timeout``: seconds a client has to send a request's headers (0: no bound), as Go's
    #: ``ReadHeaderTimeout`` in daprd.
    read_header_timeout: float = 10.0
    #: ``--http-idle-timeout``: seconds an idle keep-alive connection stays open (above the 30 s that sidecars
    #: keep theirs to each other, so they never reuse one being closed).
    idle_timeout: float = 65.0
    #: ``--app-startup-wait``: seconds an invocation waits for a target app that is starting (0: no wait).
    app_startup_wait: float = 5.0
    api_token: str | None = None
    app_api_token: str | None = None
    namespace: str | None = None
    home: Path = field(default_factory=lambda: tandem_home())
    register_instance: bool = True
    #: The run file of the ``tandem run -f`` that started this sidecar (``TANDEM_RUN_FILE``), if any.
    run_file: str | None = None
    #: The secret of the internal hop (``TANDEM_INTERNAL_SECRET``); None: this home's own, made on first use.
    internal_secret: str | None = field(default=None, repr=False)
    #: ``--internal-secret-file``: read the internal hop's secret from this file instead.
    internal_secret_file: Path | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **flags: object) -> RuntimeConfig:
        """Flags as given, secrets and namespace from the environment (as daprd does)."""
        env = os.environ if env is None else env
        return cls(
            api_token=env.get("DAPR_API_TOKEN") or None,
            app_api_token=env.get("APP_API_TOKEN") or None,
            namespace=env.get("NAMESPACE") or None,
            home=tandem_home(env),
            run_file=env.get("TANDEM_RUN_FILE") or None,
            internal_secret=env.get("TANDEM_INTERNAL_SECRET") or None,
            **flags,  # type: ignore[arg-type]
        )
