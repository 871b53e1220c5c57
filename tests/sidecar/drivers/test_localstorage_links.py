"""``bindings.localstorage`` and links: a link pointing out of rootPath is refused for every operation,
including one a folder is swapped for *after* the name was looked at (no check-then-open)."""
from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.sidecar.components.base import ComponentMetadata
from tandem.sidecar.components.bindings import BindingError, InvokeRequest
from tandem.sidecar.drivers._beneath import Beneath
from tandem.sidecar.drivers.localstorage_binding import LocalStorageBinding

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Tree:
    """``root/sub/file`` and ``root/sub/folder/deep``; ``outside/file`` and ``outside/folder/deep`` beside it."""

    def __init__(self, base: Path) -> None:
        self.root, self.outside = base / "root", base / "outside"
        for top, text in ((self.root / "sub", "inside"), (self.outside, "outside secret")):
            (top / "folder").mkdir(parents=True)
            (top / "file").write_text(text)
            (top / "folder" / "deep").write_text(text)

    def swap(self) -> None:
        """Put a link to ``outside`` where the folder ``root/sub`` was."""
        os.rename(self.root / "sub", self.root / "sub-before")
        os.symlink(self.outside, self.root / "sub")

    def outside_intact(self) -> bool:
        return sorted(p.name for p in self.outside.rglob("*")) == ["deep", "file", "folder"] \
            and (self.outside / "file").read_text() == "outside secret"


@pytest.fixture
def tree(tmp_path: Path) -> Tree:
    return Tree(tmp_path)


@pytest.fixture
async def storage(tree: Tree) -> AsyncIterator[LocalStorageBinding]:
    binding = LocalStorageBinding()
    await binding.init(ComponentMetadata(name="files", type="bindings.localstorage",
                                         properties={"rootPath": str(tree.root)}, app_id="app"))
    yield binding
    await binding.close()


OPERATIONS = [("get", "sub/file"), ("create", "sub/new"), ("create", "sub/file"), ("list", "sub"),
              ("list", "sub/folder"), ("delete", "sub/file"), ("get", "sub/folder/deep")]


async def call(binding: LocalStorageBinding, operation: str, name: str) -> Any:
    return await binding.invoke(InvokeRequest(operation, b'"overwritten"', {"fileName": name}))


@pytest.mark.parametrize("operation,name", OPERATIONS)
async def test_a_link_out_of_root_is_refused(storage: LocalStorageBinding, tree: Tree, operation: str,
                                             name: str) -> None:
    tree.swap()
    with pytest.raises(BindingError, match="outside rootPath"):
        await call(storage, operation, name)
    assert tree.outside_intact()


@pytest.fixture
def swap_after_the_check(tree: Tree, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Swap ``root/sub`` for a link at the first moment the binding has looked at the name: right after it
    resolved the path (a check-then-open), or as it opens its first handle (an open that is the check).

    Deterministic: the swap happens once, at that exact step, instead of racing a thread against the call.
    """
    swapped = False

    def swap_once() -> None:
        nonlocal swapped
        if not swapped:
            swapped = True
            tree.swap()

    real_realpath: Callable[..., Any] = os.path.realpath
    real_open: Callable[..., int] = os.open

    def realpath(path: Any, *args: Any, **kw: Any) -> Any:
        found = real_realpath(path, *args, **kw)
        if str(found).startswith(str(tree.root)):
            swap_once()
        return found

    def open_(path: Any, *args: Any, **kw: Any) -> int:
        if str(path).startswith(str(tree.root)) or kw.get("dir_fd") is not None:
            swap_once()
        return real_open(path, *args, **kw)

    monkeypatch.setattr(os.path, "realpath", realpath)
    monkeypatch.setattr(os, "open", open_)
    yield
    assert swapped, "the swap never happened: the test did not exercise the race"


@pytest.mark.parametrize("operation,name", OPERATIONS)
async def test_a_folder_swapped_for_a_link_after_the_check_cannot_lead_out(
        storage: LocalStorageBinding, tree: Tree, swap_after_the_check: None, operation: str, name: str) -> None:
    """With the former realpath-then-open, each of these read, wrote, listed or deleted files outside."""
    with pytest.raises(BindingError, match="outside rootPath"):
        await call(storage, operation, name)
    assert tree.outside_intact()


async def test_links_that_stay_inside_are_followed(storage: LocalStorageBinding, tree: Tree) -> None:
    os.symlink("sub/folder", tree.root / "relative")
    os.symlink(tree.root / "sub", tree.root / "absolute")
    os.symlink("../file", tree.root / "sub" / "folder" / "up")
    assert (await call(storage, "get", "relative/deep")).data == b"inside"
    assert (await call(storage, "get", "absolute/folder/up")).data == b"inside"
    assert (await call(storage, "get", "relative/../file")).data == b"inside"  # ".." of the link's target
    await call(storage, "create", "absolute/made")
    assert (tree.root / "sub" / "made").read_bytes() == b"overwritten"
    await call(storage, "delete", "relative/up")  # the file the link names goes, the link stays
    assert not (tree.root / "sub" / "file").exists() and os.path.islink(tree.root / "sub" / "folder" / "up")
    os.symlink("loop", tree.root / "loop")
    with pytest.raises(BindingError, match="error reading file"):
        await call(storage, "get", "loop")


def test_beneath_lists_links_without_entering_them(tree: Tree) -> None:
    os.symlink(tree.outside, tree.root / "sub" / "door")
    listed = Beneath(str(tree.root)).list("")
    assert listed == [str(tree.root / "sub" / p) for p in ("door", "file", "folder/deep")]
