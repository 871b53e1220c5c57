"""``examples/actors`` end to end: the bank and its client, each beside a real sidecar."""
from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import private_home

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "actors"

pytestmark = [
    pytest.mark.e2e,
]


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A private TANDEM_HOME after ``tandem init``; whatever a failed test left running is killed afterwards."""
    with private_home(tmp_path, init=True) as environ:
        yield environ


def run_example(env: dict[str, str], log: Path, *args: str) -> str:
    with open(log, "wb") as out:  # a file, not a pipe: a stray child cannot hold the test up
        proc = subprocess.Popen([sys.executable, str(EXAMPLE / "run.py"), *args], env=env, stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        try:
            code = proc.wait(timeout=100)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("run.py did not finish in 100s:\n" + log.read_text(errors="replace")) from None
    output = log.read_text(errors="replace")
    assert code == 0, output
    return output


def test_the_account_takes_deposits_refuses_overdrafts_and_earns_interest_by_reminder(
    env: dict[str, str], tmp_path: Path
) -> None:
    output = run_example(env, tmp_path / "run.log", "--payments", "3", "--timeout", "60")
    assert "alice: opening balance 0 cents" in output
    assert "alice: deposit 10000 -> balance 10000" in output
    assert "alice: withdraw 1000000 refused (ERR_ACTOR_INVOKE_METHOD)" in output
    assert "alice: withdraw 2500 -> balance 7500" in output
    # Each payment is 1% of the balance, in whole cents, printed by the actor in the bank app.
    payments = re.findall(r"account alice: interest payment (\d+): \+(\d+) cents, balance (\d+)", output)
    assert payments[:3] == [("1", "75", "7575"), ("2", "75", "7650"), ("3", "76", "7726")], output
    assert "alice: closing balance 7726 cents after 3 interest payment(s)" in output

    # The balance lives in the actor state store: a second run starts where the first ended.
    again = run_example(env, tmp_path / "again.log", "--payments", "1", "--timeout", "60")
    assert "alice: opening balance 7726 cents" in again, again
