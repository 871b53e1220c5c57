"""Run Dapr's hello-world on Tandem: an order service and a client, each beside its own sidecar.

    python run.py            # the order service in Python (tandem.App)
    python run.py --node     # the same order service as a plain Node.js app

What it does is three commands you can also type in two terminals:

    tandem run --app-id order --app-port 3000 -- python order_service.py
    tandem run --app-id client -- python client.py --count 3
    tandem stop --app-id order

Exits with the client's exit code. Needs ``tandem init`` (or a ``statestore`` component).
"""
from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the examples' shared launcher, _launch.py
from _launch import TANDEM, free_port, running  # noqa: E402

ORDER = "order"


def say(message: str) -> None:
    print(f"[hello-world] {message}", flush=True)


def wait_listening(proc: subprocess.Popen[bytes], port: int, timeout: float) -> bool:
    """Until the order service accepts connections; False if it exits or takes too long."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.1)
    return False


def stop(proc: subprocess.Popen[bytes]) -> None:
    """``tandem stop`` the order service; signal our own ``tandem run`` if that did not do it."""
    if proc.poll() is None:
        subprocess.run([*TANDEM, "stop", "--app-id", ORDER], check=False)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the hello-world: order service + client.")
    parser.add_argument("--node", action="store_true", help="run the Node.js order service (node/app.js)")
    parser.add_argument("--count", type=int, default=3, help="orders the client sends (default: 3)")
    parser.add_argument("--interval", type=float, default=1.0, help="seconds between orders (default: 1)")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for the service")
    args = parser.parse_args(argv)

    if args.node:
        node = shutil.which("node")
        if node is None:
            say("`node` is not on PATH: install Node.js >= 18, or run without --node")
            return 1
        service, kind = [node, "node/app.js"], "Node.js, fetch against its sidecar"
    else:
        service, kind = [sys.executable, "order_service.py"], "Python, tandem.App"
    if running(ORDER):
        say(f"an app with id '{ORDER}' is already running (see `tandem list`); "
            f"stop it with `tandem stop --app-id {ORDER}` first")
        return 1

    port = free_port()
    say(f"starting the order service ({kind}) beside its sidecar, app port {port}")
    order = subprocess.Popen([*TANDEM, "run", "--app-id", ORDER, "--app-port", str(port), "--", *service],
                             cwd=HERE)
    try:
        if not wait_listening(order, port, args.ready_timeout):
            say("the order service did not start (see its output above)")
            return 1
        say(f"the order service is up; the client sends {args.count} order(s) through its own sidecar")
        client = subprocess.run([*TANDEM, "run", "--app-id", "client", "--", sys.executable, "client.py",
                                 "--app-id", ORDER, "--count", str(args.count), "--interval", str(args.interval)],
                                cwd=HERE, check=False)
        return client.returncode
    finally:
        stop(order)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
