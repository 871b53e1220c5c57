"""Run the actors example: the bank beside its sidecar, then the client beside its own.

    python run.py [--account alice] [--payments 3]

What it does is three commands you can also type in two terminals (after ``tandem init``):

    tandem run --app-id bank --app-port 6004 -- python bank.py
    tandem run --app-id bank-client -- python client.py --account alice
    tandem stop --app-id bank

Exits with the client's exit code: 0 once it saw its deposits, the refused withdrawal and
every interest payment.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import threading
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the examples' shared launcher, _launch.py
from _launch import TANDEM, echo, free_port, running  # noqa: E402

APPS = ("bank", "bank-client")


def say(message: str) -> None:
    print(f"[actors] {message}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the actors example: a bank and a client.")
    parser.add_argument("--account", default="alice", help="the account (actor) id (default: alice)")
    parser.add_argument("--payments", type=int, default=3, help="interest payments to wait for (default: 3)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds the client waits for the bank")
    args = parser.parse_args(argv)
    for app_id in APPS:
        if running(app_id):
            say(f"an app with id '{app_id}' is already running; stop it with `tandem stop --app-id {app_id}` first")
            return 1
    say("starting the bank beside its sidecar")
    bank = subprocess.Popen([*TANDEM, "run", "--app-id", "bank", "--app-port", str(free_port()), "--",
                             sys.executable, str(HERE / "bank.py")],
                            cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    assert bank.stdout is not None
    threading.Thread(target=echo, args=(bank.stdout,), daemon=True).start()
    try:
        say(f"running the client for account '{args.account}'")
        client = subprocess.run([*TANDEM, "run", "--app-id", "bank-client", "--", sys.executable,
                                 str(HERE / "client.py"), "--account", args.account,
                                 "--payments", str(args.payments), "--timeout", str(args.timeout)],
                                cwd=HERE, check=False, stdin=subprocess.DEVNULL)
        say("the client finished" if client.returncode == 0 else f"the client failed ({client.returncode})")
        return 0 if client.returncode == 0 else 1
    finally:
        if bank.poll() is None:
            subprocess.run([*TANDEM, "stop", "--app-id", "bank"], check=False, capture_output=True)
        try:
            bank.wait(timeout=30)
        except subprocess.TimeoutExpired:
            bank.terminate()
            bank.wait()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
