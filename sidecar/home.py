"""Where Tandem keeps its per-user files (``~/.tandem`` unless ``TANDEM_HOME`` says otherwise)."""
from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__all__ = ["RUN_DIR", "tandem_home", "default_components_path", "default_config_path", "run_dir"]

RUN_DIR = "run"


def tandem_home(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("TANDEM_HOME") or Path.home() / ".tandem").expanduser()


def default_components_path(env: Mapping[str, str] | None = None) -> Path:
    return tandem_home(env) / "components"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    return tandem_home(env) / "config.yaml"


def run_dir(env: Mapping[str, str] | None = None) -> Path:
    """One JSON file per live sidecar; ``tandem list`` and local name resolution read it."""
    return tandem_home(env) / RUN_DIR
