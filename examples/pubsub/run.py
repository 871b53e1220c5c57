"""Run the pub/sub example: two subscribers and a publisher, each beside its own sidecar.

    python run.py [--count 5]

What it does is four commands you can also type in three terminals:

    tandem run --app-id subscriber --app-port 6001 -- python subscriber.py
    tandem run --app-id plain-subscriber --app-port 6002 -- python plain_subscriber.py
    tandem run --app-id publisher -- python publisher.py --count 5
    tandem stop --app-id subscriber --app-id plain-subscriber

It waits until both subscriptions are in place before publishing (an app that has not
subscribed yet is not a consumer of the topic), then until each subscriber has printed
every order. Exits 0 when both got them all. Needs ``tandem init`` (the ``pubsub``
component: the embedded SQLite broker every sidecar of the machine shares).
"""
from __future__ import annotations

import argparse
import json
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the examples' shared launcher, _launch.py
from _launch import TANDEM, free_port, running  # noqa: E402

PUBSUB, TOPIC = "pubsub", "orders"
SUBSCRIBERS = {"subscriber": "subscriber.py", "plain-subscriber": "plain_subscriber.py"}

_ANSI = re.compile(rb"\x1b\[[0-9;]*m")
_RECEIVED = re.compile(rb"received order (\d+)")
# The sidecar is local: never go through a proxy configured in the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def say(message: str) -> None:
    print(f"[pubsub] {message}", flush=True)


@dataclass
class Subscriber:
    """One ``tandem run`` of a subscriber; its output is echoed and the orders it printed counted."""

    app_id: str
    script: str
    app_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    received: set[int] = field(default_factory=set)
    proc: subprocess.Popen[bytes] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [*TANDEM, "run", "--app-id", self.app_id, "--app-port", str(self.app_port),
             "--dapr-http-port", str(self.http_port), "--", sys.executable, self.script],
            cwd=HERE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()

    def _pump(self, stream: IO[bytes]) -> None:
        app_tag = f"[{self.app_id} app] ".encode()
        for line in iter(stream.readline, b""):
            sys.stdout.buffer.write(line)
            sys.stdout.buffer.flush()
            plain = _ANSI.sub(b"", line)
            found = _RECEIVED.search(plain)
            if plain.startswith(app_tag) and found:
                with self._lock:
                    self.received.add(int(found.group(1)))

    def has(self, orders: set[int]) -> bool:
        with self._lock:
            return orders <= self.received

    def exited(self) -> bool:
        return self.proc is None or self.proc.poll() is not None

    def subscribed(self) -> bool:
        """The app listens and its sidecar lists the subscription (read from ``/dapr/subscribe``)."""
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex(("127.0.0.1", self.app_port)) != 0:
                return False
        try:
            with _OPENER.open(f"http://127.0.0.1:{self.http_port}/v1.0/metadata", timeout=2) as resp:
                metadata: Any = json.loads(resp.read())
        except (OSError, ValueError):
            return False
        subscriptions = metadata.get("subscriptions") if isinstance(metadata, dict) else None
        return any(isinstance(s, dict) and s.get("pubsubname") == PUBSUB and s.get("topic") == TOPIC
                   for s in subscriptions or ())


def wait_for(condition: Any, timeout: float, give_up: Any = lambda: False) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if give_up():
            return False
        time.sleep(0.1)
    return bool(condition())


def stop(subscribers: list[Subscriber]) -> None:
    """``tandem stop`` both; signal our own ``tandem run`` children if that did not do it."""
    live = [s for s in subscribers if not s.exited()]
    if live:
        ids = [arg for s in live for arg in ("--app-id", s.app_id)]
        subprocess.run([*TANDEM, "stop", *ids], check=False, capture_output=True)
    for s in subscribers:
        if s.proc is None:
            continue
        try:
            s.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            s.proc.terminate()
            s.proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the pub/sub example: two subscribers, one publisher.")
    parser.add_argument("--count", type=int, default=5, help="orders to publish (default: 5)")
    parser.add_argument("--ready-timeout", type=float, default=60.0, help="seconds to wait for the subscribers")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for the orders to arrive")
    args = parser.parse_args(argv)

    for app_id in (*SUBSCRIBERS, "publisher"):
        if running(app_id):
            say(f"an app with id '{app_id}' is already running (see `tandem list`); "
                f"stop it with `tandem stop --app-id {app_id}` first")
            return 1

    subscribers = [Subscriber(app_id, script) for app_id, script in SUBSCRIBERS.items()]
    try:
        for s in subscribers:
            say(f"starting {s.app_id} ({s.script}) beside its sidecar, app port {s.app_port}")
            s.start()
        if not wait_for(lambda: all(s.subscribed() for s in subscribers), args.ready_timeout,
                        give_up=lambda: any(s.exited() for s in subscribers)):
            say("the subscribers did not subscribe to pubsub/orders in time (see their output above)")
            return 1
        say(f"both subscribed to {PUBSUB}/{TOPIC}; the publisher sends {args.count} order(s)")
        publisher = subprocess.run([*TANDEM, "run", "--app-id", "publisher", "--", sys.executable,
                                    "publisher.py", "--count", str(args.count)], cwd=HERE, check=False,
                                   stdin=subprocess.DEVNULL)
        if publisher.returncode != 0:
            say(f"the publisher failed (exit code {publisher.returncode})")
            return 1
        orders = set(range(1, args.count + 1))
        if not wait_for(lambda: all(s.has(orders) for s in subscribers), args.timeout,
                        give_up=lambda: any(s.exited() for s in subscribers)):
            for s in subscribers:
                say(f"{s.app_id} is missing order(s) {sorted(orders - s.received)}")
            return 1
        say(f"both subscribers received all {args.count} order(s)")
        return 0
    finally:
        stop(subscribers)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
