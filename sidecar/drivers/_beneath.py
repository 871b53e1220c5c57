"""Files under one root folder, reached without ever leaving it, even while the tree changes.

Every path is opened one component at a time, relative to the handle of the
folder before it, with ``O_NOFOLLOW`` (and ``O_DIRECTORY`` for folders). There
is no check followed by an open that a swapped folder could fool: the open *is*
the check. A symbolic link met on the way is read and followed by hand, within
the root only: its target is walked the same way from the handles already held
(``..`` pops one, never past the root), so a link pointing out is refused
however and whenever it appears.
"""
from __future__ import annotations

import errno
import os
import posixpath
import stat
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Beneath", "OutsideRoot"]

T = TypeVar("T")

_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC
_MAX_LINKS = 40  # Linux's limit for one path


class OutsideRoot(ValueError):
    """The name leads outside the root (``..``, an absolute path elsewhere, or a link pointing out)."""


class _Link(Exception):
    """The component at hand is a symbolic link: follow it, then try again."""


class _Walk:
    """The folders opened so far (root first), as handles and names."""

    def __init__(self, root: str) -> None:
        self.root = root
        self.fds = [os.open(root, _DIR)]
        self.names: list[str] = []
        self.links = 0

    @property
    def fd(self) -> int:
        return self.fds[-1]

    def path(self, *more: str) -> str:
        return posixpath.join(self.root, *self.names, *more)

    def enter(self, name: str, fd: int) -> None:
        self.fds.append(fd)
        self.names.append(name)

    def up(self, original: str) -> None:
        if not self.names:
            raise OutsideRoot(f"fileName {original!r} leads outside rootPath {self.root}")
        os.close(self.fds.pop())
        self.names.pop()

    def to_root(self) -> None:
        while self.names:
            os.close(self.fds.pop())
            self.names.pop()

    def close(self) -> None:
        for fd in self.fds:
            os.close(fd)
        self.fds = []


class Beneath:
    """Open, create, list and remove files under ``root`` (an absolute, real path), never outside it."""

    def __init__(self, root: str) -> None:
        self.root = root

    # -- the walk ------------------------------------------------------------------------
    def _parts(self, name: str, original: str) -> list[str]:
        if posixpath.isabs(name):
            clean = posixpath.normpath(name)
            if clean != self.root and not clean.startswith(self.root.rstrip("/") + "/"):
                raise OutsideRoot(f"fileName {original!r} leads outside rootPath {self.root}")
            name = clean[len(self.root):]
        return [p for p in name.split("/") if p not in ("", ".")]

    def _follow(self, walk: _Walk, link: str, rest: list[str], original: str) -> list[str]:
        """The components still to walk once ``link`` (in the current folder) is replaced by its target."""
        walk.links += 1
        if walk.links > _MAX_LINKS:
            raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), walk.path(link))
        target = os.readlink(link, dir_fd=walk.fd)
        if posixpath.isabs(target):
            parts = self._parts(target, original)
            walk.to_root()
        else:
            parts = [p for p in target.split("/") if p not in ("", ".")]
        return parts + rest

    def _open_dir(self, walk: _Walk, name: str, create: bool) -> int:
        """The handle of folder ``name`` in the current one; raises _Link when it is a link."""
        try:
            return os.open(name, _DIR, dir_fd=walk.fd)
        except FileNotFoundError:
            if not create:
                raise
            try:
                os.mkdir(name, 0o777, dir_fd=walk.fd)
            except FileExistsError:
                pass  # made meanwhile: open what is there, with the same care
            return self._open_dir(walk, name, create=False)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR) and _is_link(walk.fd, name):
                raise _Link() from None
            raise

    def _walk(self, name: str, *, leaf: Callable[[int, str, str], T] | None = None,
              folder: Callable[[_Walk], T] | None = None, create: bool = False) -> T:
        """Walk ``name`` and hand over its end: ``leaf(folder_fd, last, path)`` for a file (which raises
        :class:`_Link` to have a link there followed), ``folder(walk)`` for a folder."""
        parts = self._parts(name, name)
        if _lexically_outside(parts):
            raise OutsideRoot(f"fileName {name!r} leads outside rootPath {self.root}")
        walk = _Walk(self.root)
        try:
            while parts:
                part = parts.pop(0)
                if part == "..":
                    walk.up(name)
                    continue
                if not parts and leaf is not None:
                    try:
                        return leaf(walk.fd, part, walk.path(part))
                    except _Link:
                        parts = self._follow(walk, part, parts, name)
                        continue
                    except OSError as exc:
                        raise _named(exc, part, walk.path(part)) from None
                if parts and parts[0] == ".." and not _exists(walk.fd, part):
                    parts.pop(0)  # "missing/..": nothing to follow there, and nothing to make
                    continue
                try:
                    walk.enter(part, self._open_dir(walk, part, create))
                except _Link:
                    parts = self._follow(walk, part, parts, name)
                except OSError as exc:
                    raise _named(exc, part, walk.path(part)) from None
            if folder is None:
                raise IsADirectoryError(errno.EISDIR, "names a folder, not a file", walk.path())
            return folder(walk)
        finally:
            walk.close()

    # -- operations ----------------------------------------------------------------------
    def read(self, name: str) -> tuple[bytes, str]:
        def leaf(folder: int, last: str, path: str) -> tuple[bytes, str]:
            fd = _regular(_open_leaf(folder, last, os.O_RDONLY | os.O_NONBLOCK), path)
            with os.fdopen(fd, "rb") as file:
                return file.read(), path
        return self._walk(name, leaf=leaf)

    def write(self, name: str, data: bytes) -> str:
        """Create or replace file ``name`` (making its folders) with ``data``; returns its path."""
        def leaf(folder: int, last: str, path: str) -> str:
            fd = _regular(_open_leaf(folder, last, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NONBLOCK), path)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            return path
        return self._walk(name, leaf=leaf, create=True)

    def remove(self, name: str) -> str:
        def leaf(folder: int, last: str, path: str) -> str:
            if _is_link(folder, last):
                raise _Link()
            os.unlink(last, dir_fd=folder)  # a link put there meanwhile is removed itself, never followed
            return path
        return self._walk(name, leaf=leaf)

    def list(self, name: str) -> list[str]:
        """Every non-folder under folder ``name``, depth first in name order; links are listed, never entered."""
        def folder(walk: _Walk) -> list[str]:
            found: list[str] = []
            _list(walk.fd, walk.path(), found)
            return found
        return self._walk(name, folder=folder)


def _open_leaf(folder: int, last: str, flags: int) -> int:
    try:
        return os.open(last, flags | os.O_NOFOLLOW | _CLOEXEC, 0o666, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP and _is_link(folder, last):
            raise _Link() from None
        raise


def _regular(fd: int, path: str) -> int:
    """``fd`` if it is a regular file; a folder, FIFO or device is refused (and closed)."""
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "names a folder, not a file", path)
        raise OSError(errno.EINVAL, "not a regular file", path)
    return fd


def _named(exc: OSError, part: str, path: str) -> OSError:
    """``exc`` naming the whole path under the root rather than the bare component the call was given."""
    if exc.filename in (None, part):
        exc.filename = path
    return exc


def _lexically_outside(parts: list[str]) -> bool:
    """Whether the ``..`` of ``parts`` climb above their start on their own (whatever links say)."""
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            return True
    return False


def _exists(folder: int, name: str) -> bool:
    try:
        os.stat(name, dir_fd=folder, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _is_link(folder: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _list(folder: int, path: str, found: list[str]) -> None:
    with os.scandir(folder) as entries:
        names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
    for name, is_dir in names:
        if is_dir:
            try:
                fd = os.open(name, _DIR, dir_fd=folder)
            except OSError:  # no longer a folder (swapped for a link, or removed): listed as what it now is
                found.append(posixpath.join(path, name))
                continue
            try:
                _list(fd, posixpath.join(path, name), found)
            finally:
                os.close(fd)
        else:
            found.append(posixpath.join(path, name))
