"""``tandem logs``: finding a run's log files through the run file, tailing and following them."""
from __future__ import annotations

import itertools
import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from cli_support import CLI, Sandbox, wait_until
from tandem.sidecar.cli.logfiles import newest_logs, tail
from tandem.sidecar.cli.main import cli


def fake_run(root: Path) -> Path:
    """A run file with app ``svc`` (2 replicas) and ``one``, and log files of two past runs."""
    (root / "home" / "components").mkdir(parents=True)
    logs = root / "svc" / ".tandem" / "logs"
    logs.mkdir(parents=True)
    (root / "one").mkdir()
    for stamp, text in (("20250101000000", "old run"), ("20250102000000", "new run")):
        for replica in (0, 1):
            (logs / f"svc-{replica}_app_{stamp}.log").write_text(f"{text} replica {replica}\nline 2\n")
            (logs / f"svc-{replica}_tandemd_{stamp}.log").write_text(f"sidecar {replica}\n")
    (logs / "svcx_app_20250103000000.log").write_text("another app's file\n")
    run_file = root / "tandem.yaml"
    run_file.write_text(yaml.safe_dump({"version": 1, "apps": [
        {"appID": "svc", "appDirPath": "svc", "replicas": 2}, {"appID": "one", "appDirPath": "one"}]}))
    return run_file


def test_newest_run_every_replica_and_tails(tmp_path: Path) -> None:
    fake_run(tmp_path)
    logs = tmp_path / "svc" / ".tandem" / "logs"
    found = newest_logs(logs, "svc", "app")
    assert [(f.label, f.path.name) for f in found] == [("svc-0", "svc-0_app_20250102000000.log"),
                                                       ("svc-1", "svc-1_app_20250102000000.log")]
    assert [f.label for f in newest_logs(logs, "svc", "tandemd")] == ["svc-0", "svc-1"]
    assert newest_logs(logs, "sv", "app") == [] and newest_logs(tmp_path / "none", "svc", "app") == []
    big = tmp_path / "big.log"
    big.write_text("".join(f"line {n}\n" for n in range(20000)))
    assert tail(big, 2) == ["line 19998", "line 19999"]
    assert tail(big, 1, end=len("line 0\nline 1\n")) == ["line 1"]
    assert len(tail(big, None)) == 20000 and tail(big, 0) == [] and tail(tmp_path / "missing", 3) == []


def test_logs_of_a_stopped_run_through_its_run_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run_file = fake_run(tmp_path)
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path / "home"))
    runner = CliRunner()
    shown = runner.invoke(cli, ["logs", "--app-id", "svc", "-f", str(run_file)])
    assert shown.exit_code == 0, shown.output
    assert shown.output.splitlines() == ["svc-0 | new run replica 0", "svc-0 | line 2",
                                         "svc-1 | new run replica 1", "svc-1 | line 2"]
    last = runner.invoke(cli, ["logs", "-a", "svc", "-f", str(run_file), "--sidecar", "--tail", "1"])
    assert last.output.splitlines() == ["svc-0 | sidecar 0", "svc-1 | sidecar 1"]
    monkeypatch.chdir(tmp_path)  # tandem.yaml in the current folder is found by itself
    assert runner.invoke(cli, ["logs", "-a", "svc", "-n", "1"]).output.splitlines()[0] == "svc-0 | line 2"

    none_yet = runner.invoke(cli, ["logs", "-a", "one"])
    assert none_yet.exit_code == 1 and "no log files of app 'one'" in none_yet.output
    unknown = runner.invoke(cli, ["logs", "-a", "ghost", "-f", str(run_file)])
    assert unknown.exit_code == 1 and "no app with id 'ghost'" in unknown.output
    monkeypatch.chdir(tmp_path / "one")
    nowhere = runner.invoke(cli, ["logs", "-a", "ghost"])
    assert nowhere.exit_code == 1 and "try -f <run file>" in nowhere.output


@pytest.mark.e2e
def test_follow_prints_lines_as_they_are_appended(sandbox: Sandbox) -> None:
    run_file = fake_run(sandbox.root)
    log = sandbox.root / "svc" / ".tandem" / "logs" / "svc-1_app_20250102000000.log"
    out = sandbox.root / "follow.out"
    with open(out, "wb") as sink:
        proc = subprocess.Popen([*CLI, "logs", "-a", "svc", "-f", str(run_file), "--follow", "-n", "0"],
                                env=sandbox.env, stdout=sink, stderr=subprocess.STDOUT)
    sandbox.started.append(proc)
    ticks = itertools.count()

    def appended() -> bool:
        # Lines written before `logs` has looked at the file are not new to it: keep writing until one shows.
        with open(log, "a") as f:
            f.write(f"appended {next(ticks)}\n")
        return "svc-1 | appended " in out.read_text()

    wait_until(appended, 30, "an appended line")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=15) == 0
    assert "line 2" not in out.read_text()  # --tail 0: only what came after
