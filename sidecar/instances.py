"""The local table of running sidecars: one JSON file per ``tandemd`` process.

``tandemd`` writes its file once it serves and removes it on exit. A crashed
sidecar leaves its file behind; readers detect that (the pid is gone, or now
belongs to another process) and drop the stale entry instead of trusting it.

Beside it, ``<sidecar pid>.app`` is written by the ``tandem run`` that started the
sidecar, naming the app it started (the leader of the app's process group): the
sidecar and ``tandem stop`` end that group even once the ``tandem run`` is gone.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

__all__ = ["Instance", "AppGroup", "register", "unregister", "live_instances", "record_app", "recorded_app",
           "private_run_folder"]


@dataclass(frozen=True)
class Instance:
    app_id: str
    pid: int
    http_port: int
    address: str = "127.0.0.1"
    app_port: int | None = None
    started_at: float = field(default_factory=time.time)
    create_time: float = 0.0
    resources_paths: tuple[str, ...] = ()
    config: str | None = None
    internal_port: int | None = None
    namespace: str | None = None
    #: Set when ``tandem run -f`` started it: ``tandem stop -f`` finds the apps of a run file by it.
    run_file: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["resources_paths"] = list(self.resources_paths)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Instance:
        data = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        data["resources_paths"] = tuple(data.get("resources_paths") or ())
        return cls(**data)

    def alive(self) -> bool:
        try:
            proc = psutil.Process(self.pid)
            return bool(abs(proc.create_time() - self.create_time) < 1.0 and proc.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            return False


@dataclass(frozen=True)
class AppGroup:
    """The app a ``tandem run`` (``supervisor_pid``) started beside a sidecar; its pid is its process group id."""

    pid: int
    create_time: float
    supervisor_pid: int

    def reused(self) -> bool:
        """The leader's pid now names another process: the group is not ours any more."""
        try:
            return abs(psutil.Process(self.pid).create_time() - self.create_time) >= 1.0
        except psutil.Error:
            return False  # the leader is gone; its group id cannot be reused while members remain


def record_app(folder: Path, sidecar_pid: int, app_pid: int) -> Path:
    """Note (atomically) that this process started ``app_pid`` beside sidecar ``sidecar_pid``."""
    private_run_folder(folder)
    group = AppGroup(app_pid, psutil.Process(app_pid).create_time(), os.getpid())
    path = folder / f"{sidecar_pid}.app"
    _write_private(path, path.with_suffix(".app-tmp"), json.dumps(asdict(group)))
    return path


def recorded_app(folder: Path, sidecar_pid: int) -> AppGroup | None:
    """The app recorded beside sidecar ``sidecar_pid``, unless its pid was reused since."""
    try:
        data = json.loads((folder / f"{sidecar_pid}.app").read_text(encoding="utf-8"))
        group = AppGroup(int(data["pid"]), float(data["create_time"]), int(data["supervisor_pid"]))
    except (OSError, ValueError, TypeError, KeyError):
        return None
    return None if group.reused() else group


def private_run_folder(folder: Path) -> Path:
    """The run directory, made (or narrowed to) 0700: its files name the ports of every sidecar."""
    folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    folder.mkdir(exist_ok=True, mode=0o700)
    if folder.stat().st_mode & 0o077 and folder.stat().st_uid == os.geteuid():
        os.chmod(folder, 0o700)
    return folder


def _write_private(path: Path, tmp: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable by its user only (0600 from creation)."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # a stale temporary file left by a crash keeps its old mode otherwise
        file.write(text)
    os.replace(tmp, path)


def register(folder: Path, instance: Instance) -> Path:
    """Write ``instance`` atomically, readable by its user only (0600 from creation); returns the file to
    remove at exit."""
    private_run_folder(folder)
    if not instance.create_time:
        instance = Instance(**{**instance.to_json(), "resources_paths": instance.resources_paths,
                               "create_time": psutil.Process(instance.pid).create_time()})
    path = folder / f"{instance.pid}.json"
    _write_private(path, path.with_suffix(".tmp"), json.dumps(instance.to_json()))
    return path


def unregister(path: Path) -> None:
    """Remove a sidecar's file, and the record of its app beside it."""
    for file in (path, path.with_suffix(".app")):
        try:
            file.unlink()
        except FileNotFoundError:
            pass


def live_instances(folder: Path, app_id: str | None = None) -> list[Instance]:
    """Every live sidecar (optionally of one app id); stale files are removed."""
    found: list[Instance] = []
    if not folder.is_dir():
        return found
    for path in sorted(folder.glob("*.json")):
        try:
            instance = Instance.from_json(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue
        if not instance.alive():
            unregister(path)
            continue
        if app_id is None or instance.app_id == app_id:
            found.append(instance)
    return found
