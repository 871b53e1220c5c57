"""``examples/bindings`` end to end: the cron-driven job beside a real sidecar writes its reports as files."""
from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import private_home

pytestmark = pytest.mark.e2e

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bindings"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private TANDEM_HOME; whatever a failed test left running is killed afterwards."""
    with private_home(tmp_path, init=False) as environ:
        yield environ


def test_the_job_writes_a_report_per_tick(env: dict[str, str], tmp_path: Path) -> None:
    workdir, log = tmp_path / "work", tmp_path / "run.log"
    args = [sys.executable, str(EXAMPLE / "run.py"), "--ticks", "3", "--workdir", str(workdir), "--timeout", "60"]
    with open(log, "wb") as out:  # a file, not a pipe: a stray child cannot hold the test up
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=100)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("run.py did not finish in 100s:\n" + log.read_text(errors="replace")) from None
    output = log.read_text(errors="replace")
    assert code == 0, output
    for n in (1, 2, 3):
        assert f"[cron-job app] tick {n}: wrote tick-{n:04d}.json" in output, output
        report = json.loads((workdir / "output" / f"tick-{n:04d}.json").read_text())
        assert report["tick"] == n and report["app"] == "cron-job"
        assert report["readTimeUTC"].endswith(" +0000 UTC")
    assert "[bindings] " in output and "report(s) written to" in output
