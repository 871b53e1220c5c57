"""``examples/pubsub`` end to end: a publisher and two subscribers, each beside a real sidecar.

``run.py`` runs on the embedded default (``tandem init`` in a private TANDEM_HOME: the
SQLite broker every sidecar shares); both subscribers, the ``tandem.App`` one and the
plain ``http.server`` one, must print every order the publisher sent.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import private_home
from support import processes_with_home as ours

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "pubsub"
CLI = [sys.executable, "-m", "tandem.sidecar.cli.main"]
_RECEIVED = re.compile(r"^\[(?P<app>[\w-]+) app\] received order (?P<n>\d+) \(event \S+ from (?P<source>\S+)\)$")


def wait_all_gone(home: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while ours(home):
        if time.monotonic() > deadline:
            raise AssertionError(f"processes of the example still running: {ours(home)}")
        time.sleep(0.05)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private, initialised TANDEM_HOME; whatever a failed test left running is killed afterwards."""
    with private_home(tmp_path, init=True) as environ:
        yield environ


def run_example(env: dict[str, str], log: Path, count: int) -> str:
    """``python run.py --count N``; returns its whole output (the apps' prefixed lines included)."""
    args = [sys.executable, str(EXAMPLE / "run.py"), "--count", str(count), "--timeout", "60"]
    with open(log, "wb") as out:  # a file, not a pipe: a stray child cannot hold the test up
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=110)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("run.py did not finish in 110s:\n" + log.read_text(errors="replace")) from None
    output = log.read_text(errors="replace")
    assert code == 0, output
    return output


def received(output: str) -> dict[str, set[tuple[int, str]]]:
    """Per subscriber app id: the (order id, event source) pairs it printed."""
    got: dict[str, set[tuple[int, str]]] = {}
    for line in output.splitlines():
        if match := _RECEIVED.match(line):
            got.setdefault(match["app"], set()).add((int(match["n"]), match["source"]))
    return got


def test_both_subscribers_receive_every_order(env: dict[str, str], tmp_path: Path) -> None:
    home = Path(env["TANDEM_HOME"])
    output = run_example(env, tmp_path / "run.log", count=5)

    every = {(n, "publisher") for n in range(1, 6)}
    assert received(output) == {"subscriber": every, "plain-subscriber": every}, output
    assert [f"[publisher app] published order {n}" in output for n in range(1, 6)] == [True] * 5
    assert "[pubsub] both subscribers received all 5 order(s)" in output
    assert (home / "pubsub.db").is_file()  # the embedded broker the three sidecars shared

    wait_all_gone(home)
    listed = subprocess.run([*CLI, "list", "-o", "json"], env=env, capture_output=True, text=True, timeout=30)
    assert json.loads(listed.stdout) == []
