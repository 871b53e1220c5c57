"""How ``tandem run`` reads its flags and what it hands to tandemd and the app (no processes)."""
from __future__ import annotations

import asyncio
import io
import os
from pathlib import Path
from typing import Any

import pytest

from tandem.sidecar.cli import run_cmd
from tandem.sidecar.cli._output import Console, pump_lines
from tandem.sidecar.cli._runner import RunOptions, app_env, sidecar_argv
from tandem.sidecar.cli.daemon import main as tandemd
from tandem.sidecar.cli.list_cmd import AppRow, format_age, render_table
from tandem.sidecar.cli.run_cmd import resolve_resources, run


def parse(*args: str) -> dict[str, Any]:
    with run.make_context("run", list(args)) as ctx:
        return dict(ctx.params)


def test_dapr_style_flags_then_the_command() -> None:
    params = parse("--app-id", "nodeapp", "--app-port", "3000", "--port", "3500", "node", "app.js")
    assert (params["app_id"], params["app_port"], params["http_port"]) == ("nodeapp", 3000, 3500)
    assert params["command"] == ("node", "app.js")


@pytest.mark.parametrize("args", [
    ("-a", "x", "-p", "8000", "-H", "3501", "--", "python", "app.py", "--flag", "-p", "9"),
    ("-a", "x", "-p", "8000", "--dapr-http-port", "3501", "python", "app.py", "--flag", "-p", "9"),
])
def test_options_after_the_command_belong_to_the_app(args: tuple[str, ...]) -> None:
    params = parse(*args)
    assert (params["app_id"], params["app_port"], params["http_port"]) == ("x", 8000, 3501)
    assert params["command"] == ("python", "app.py", "--flag", "-p", "9")


def test_resources_path_aliases_repeat_and_split_on_commas(tmp_path: Path) -> None:
    params = parse("--resources-path", "a", "--components-path", "b,c", "-d", str(tmp_path))
    assert params["resources_paths"] == ("a", "b,c", str(tmp_path))
    resolved = resolve_resources(params["resources_paths"])
    assert resolved is not None and [Path(p).name for p in resolved] == ["a", "b", "c", tmp_path.name]
    assert all(Path(p).is_absolute() for p in resolved)


def test_default_resources_are_the_home_components(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("TANDEM_HOME", str(tmp_path))
    assert resolve_resources(()) is None
    (tmp_path / "components").mkdir()
    assert resolve_resources(()) == (str(tmp_path / "components"),)


def test_sidecar_gets_daprd_flags_and_the_app_gets_daprs_env() -> None:
    opts = RunOptions(app_id="web", http_port=3601, resources_paths=("/r1", "/r2"), command=("python", "a.py"),
                      app_port=8080, config="/c.yaml", log_level="debug", max_body_size="8Mi",
                      grpc_port=50001, metrics_port=9090)
    argv = sidecar_argv(opts)
    assert argv[1:3] == ["-m", "tandem.sidecar"]
    pairs = dict(zip(argv[3::2], argv[4::2], strict=True))
    assert pairs["--app-id"] == "web" and pairs["--dapr-http-port"] == "3601" and pairs["--app-port"] == "8080"
    assert pairs["--config"] == "/c.yaml" and pairs["--log-level"] == "debug" and pairs["--max-body-size"] == "8Mi"
    assert pairs["--dapr-grpc-port"] == "50001" and pairs["--metrics-port"] == "9090"
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--resources-path"] == ["/r1", "/r2"]

    env = app_env(opts, {"HOME": "/h", "APP_PORT": "stale"})
    assert env["HOME"] == "/h"
    assert (env["APP_ID"], env["APP_PORT"], env["DAPR_HTTP_PORT"]) == ("web", "8080", "3601")
    assert env["DAPR_HTTP_ENDPOINT"] == "http://127.0.0.1:3601"
    assert (env["APP_CHANNEL_ADDRESS"], env["APP_PROTOCOL"]) == ("127.0.0.1", "http")


def test_api_logging_is_passed_on_to_tandemd() -> None:
    argv = sidecar_argv(RunOptions(app_id="a", http_port=1, resources_paths=(), enable_api_logging=True))
    assert argv[-1] == "--enable-api-logging"


def test_unset_options_are_left_to_tandemds_defaults() -> None:
    argv = sidecar_argv(RunOptions(app_id="a", http_port=1, resources_paths=()))
    assert argv[3:] == ["--app-id", "a", "--dapr-http-port", "1"]


def test_lines_are_prefixed_whole_even_when_long_or_unterminated() -> None:
    out = io.BytesIO()
    console = Console(out, color=False)
    long_line = b"x" * 200_000

    async def feed() -> None:
        reader = asyncio.StreamReader()
        reader.feed_data(b"one\ntw")
        reader.feed_data(b"o\n" + long_line + b"\nlast")
        reader.feed_eof()
        await pump_lines(reader, console, console.tag("a app", "app"))

    asyncio.run(feed())
    expected = [b"[a app] one", b"[a app] two", b"[a app] " + long_line, b"[a app] last", b""]
    assert out.getvalue().split(b"\n") == expected


def test_tags_are_coloured_only_when_asked() -> None:
    assert Console(io.BytesIO(), color=True).tag("a sidecar", "sidecar") == b"\x1b[33m[a sidecar]\x1b[0m "
    assert Console(io.BytesIO(), color=False).tag("a sidecar", "sidecar") == b"[a sidecar] "
    assert Console(io.BytesIO()).tag("a app", "app") == b"[a app] "  # not a TTY


def test_list_helpers() -> None:
    assert [format_age(s) for s in (0, 59, 60, 3600 * 5, 86400 * 2 + 5)] == ["0s", "59s", "1m", "5h", "2d"]
    row = AppRow("web", 3500, 0, "python app.py", "1m", "2024-01-01 10:00.00", 11, 22, 33)
    table = render_table([row]).splitlines()
    assert table[0].split("  ")[0] == "APP ID" and "DAPRD PID" in table[0] and "CLI PID" in table[0]
    assert table[1].split() == ["web", "3500", "0", "python", "app.py", "1m", "2024-01-01", "10:00.00",
                                "11", "22", "33"]
    assert row.to_json()["daprdPid"] == 11 and row.to_json()["appId"] == "web"


def test_stop_group_ends_the_whole_group_and_kills_what_ignores_sigterm() -> None:
    import sys

    from tandem.sidecar.cli._process import group_alive, stop_group

    stubborn = ("import signal, subprocess, sys, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
                "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)")

    async def scenario() -> tuple[int, bool]:
        proc = await asyncio.create_subprocess_exec(sys.executable, "-c", stubborn, start_new_session=True)
        await asyncio.sleep(0.3)
        code = await stop_group(proc, grace=0.5)
        return code, group_alive(proc.pid)

    code, left = asyncio.run(scenario())
    assert code == -9
    assert not left


@pytest.mark.parametrize(("args", "said"), [
    (("-P", "grpc"), "talks to apps over http only"),
    (("--app-protocol", "h2c"), "talks to apps over http only"),
    (("--log-level", "verbose"), "'verbose' is not one of"),
    (("--max-body-size", "lots"), "not a size: 'lots'"),
])
def test_a_value_the_sidecar_would_refuse_is_refused_up_front(args: tuple[str, ...], said: str) -> None:
    import click

    with pytest.raises(click.BadParameter, match=said):
        parse(*args, "-a", "x", "--", "true")


def test_run_offers_exactly_what_tandemd_accepts() -> None:
    import click

    from tandem.sidecar.cli.daemon import main as tandemd
    from tandem.sidecar.config import APP_PROTOCOLS

    def choices(command: click.Command, name: str) -> set[str]:
        option = next(p for p in command.params if p.name == name)
        assert isinstance(option.type, click.Choice)
        return {str(c) for c in option.type.choices}

    assert choices(tandemd, "app_protocol") == set(APP_PROTOCOLS)
    assert choices(run, "log_level") == choices(tandemd, "log_level")
    for protocol in APP_PROTOCOLS:
        assert parse("-P", protocol.upper(), "--", "true")["app_protocol"] == protocol


def test_sidecar_timeouts_and_startup_wait_reach_every_sidecar_through_tandemds_env(
        monkeypatch: pytest.MonkeyPatch) -> None:
    params = parse("--http-read-header-timeout", "2.5", "--app-startup-wait", "0", "-f", "tandem.yaml")
    assert (params["http_read_header_timeout"], params["app_startup_wait"], params["http_idle_timeout"]) == \
        (2.5, 0, None)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("TANDEM_")}
    monkeypatch.setattr(os, "environ", environ)
    run_cmd._pass_to_sidecars(TANDEM_HTTP_READ_HEADER_TIMEOUT=2.5, TANDEM_APP_STARTUP_WAIT=0.0,
                              TANDEM_HTTP_IDLE_TIMEOUT=None)
    assert environ["TANDEM_HTTP_READ_HEADER_TIMEOUT"] == "2.5" and environ["TANDEM_APP_STARTUP_WAIT"] == "0.0"
    assert "TANDEM_HTTP_IDLE_TIMEOUT" not in environ
    with tandemd.make_context("tandemd", []) as ctx:
        assert (ctx.params["read_header_timeout"], ctx.params["app_startup_wait"]) == (2.5, 0.0)
