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
def test_make_hello_runs_the_hello_world_on_the_embedded_default(tmp_path: Path) -> None:
    """``make hello`` on a home with nothing in it: init, then the app stores its count through the sidecar."""
    venv = Path(sys.prefix)
    env = {**os.environ, "TANDEM_HOME": str(tmp_path / "home")}
    outputs = []
    for _ in range(2):
        proc = subprocess.run(["make", "-s", "hello", f"VENV={venv}"], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        outputs.append(proc.stdout)
    assert "Hello from Tandem! This app has run 1 time(s)." in outputs[0]
    assert "Hello from Tandem! This app has run 2 time(s)." in outputs[1]
    assert (tmp_path / "home" / "components" / "statestore.yaml").is_file()
    assert (tmp_path / "home" / "state.db").is_file()
