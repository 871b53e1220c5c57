"""The README's first screen: two commands, and the hello-world one works as written."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def first_screen_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "the README must open with a bash block holding the two commands"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_the_first_screen_gives_two_commands_and_ci_runs_the_second() -> None:
    hello, test = first_screen_commands()
    assert (hello, test) == ("make hello", "make test")
    assert test in (ROOT / ".ci" / "run").read_text()


@pytest.mark.e2e
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_hello_runs_the_two_service_hello_world_on_the_embedded_default(tmp_path: Path) -> None:
    """``make hello`` on an empty home: init, then the client's orders are stored by the order service.

    Each order the client sends is read back by its next call; a second run starts after the
    last order stored by the first, which lives in the embedded store under the home.
    """
    venv = Path(sys.prefix)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DAPR_", "APP_"))}
    env["TANDEM_HOME"] = str(tmp_path / "home")
    outputs = []
    for _ in range(2):
        proc = subprocess.run(["make", "-s", "hello", f"VENV={venv}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout)
    first, second = outputs
    for n in (1, 2, 3):
        assert f'[client app] order {n} stored; order service says it holds {{"orderId": {n}}}' in first
        assert f"[order app] Got a new order! Order ID: {n}" in first
    assert '[client app] the order service already holds {"orderId": 3}; continuing from there' in second
    assert '[client app] order 6 stored; order service says it holds {"orderId": 6}' in second
    assert "app 'order' stopped" in second
    assert (tmp_path / "home" / "components" / "statestore.yaml").is_file()
    assert (tmp_path / "home" / "state.db").is_file()
