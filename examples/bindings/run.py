"""Run the bindings example: the cron-driven job beside its sidecar until it wrote a few reports.

    python run.py [--ticks 3] [--workdir .]

What it does is one command you can also type (from this folder):

    tandem run --app-id cron-job --app-port 6003 --resources-path components -- python job.py

then ``tandem stop --app-id cron-job`` once you have seen enough. The sidecar runs in
``--workdir`` (this folder by default), so the reports land in ``<workdir>/output``. Exits 0
when the job printed ``--ticks`` reports and each file is there, 1 otherwise.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the examples' shared launcher, _launch.py
from _launch import TANDEM, free_port, running  # noqa: E402

APP_ID = "cron-job"
_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_WROTE = re.compile(rb"tick (\d+): wrote (\S+)")


def say(message: str) -> None:
    print(f"[bindings] {message}", flush=True)


class Job:
    """The ``tandem run`` of the job; its output is echoed and the reports it wrote collected."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.written: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [*TANDEM, "run", "--app-id", APP_ID, "--app-port", str(free_port()),
             "--resources-path", str(HERE / "components"), "--", sys.executable, str(HERE / "job.py")],
            cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        for line in iter(stream.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            found = _WROTE.search(_ANSI.sub(b"", line))
            if found:
                with self._lock:
                    self.written.append(found.group(2).decode())

    def reports(self) -> list[str]:
        with self._lock:
            return list(self.written)

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocess.run([*TANDEM, "stop", "--app-id", APP_ID], check=False, capture_output=True)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the bindings example: a cron-driven job writing reports.")
    parser.add_argument("--ticks", type=int, default=3, help="reports to wait for (default: 3)")
    parser.add_argument("--workdir", type=Path, default=HERE, help="where the sidecar runs (reports in ./output)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the reports")
    args = parser.parse_args(argv)
    if running(APP_ID):
        say(f"an app with id '{APP_ID}' is already running; stop it with `tandem stop --app-id {APP_ID}` first")
        return 1
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    say(f"starting the job beside its sidecar; reports go to {workdir / 'output'}")
    job = Job(workdir)
    try:
        deadline = time.monotonic() + args.timeout
        while len(job.reports()) < args.ticks:
            if job.proc.poll() is not None or time.monotonic() > deadline:
                say(f"only {len(job.reports())} of {args.ticks} report(s) were written (see the output above)")
                return 1
            time.sleep(0.1)
    finally:
        job.stop()
    missing = [name for name in job.reports() if not (workdir / "output" / name).is_file()]
    if missing:
        say(f"the job reported files that are not there: {missing}")
        return 1
    say(f"{len(job.reports())} report(s) written to {workdir / 'output'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
