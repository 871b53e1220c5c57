"""``examples/multi-app``: the hello-world and the pub/sub services from one run file, as the README says."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from multi_run_support import init, wait_output

from cli_support import Sandbox, wait_until
from support import processes_with_home

pytestmark = pytest.mark.e2e

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_the_multi_app_example_runs_both_examples_together(sandbox: Sandbox) -> None:
    # A copy, so that the run's log files land in the test's folder, not in the checkout.
    for name in ("multi-app", "hello-world", "pubsub"):
        shutil.copytree(EXAMPLES / name, sandbox.root / "examples" / name,
                        ignore=shutil.ignore_patterns(".tandem", "__pycache__", "node_modules"))
    init(sandbox)
    proc = sandbox.start("run", "-f", str(sandbox.root / "examples" / "multi-app"))

    output = wait_output(sandbox, 'client            app     | order 2 stored; order service says it holds '
                                  '{"orderId": 2}', timeout=90, proc=proc)
    assert "order             app     | Got a new order! Order ID: 2" in output

    def everyone_got_the_last_order() -> bool:
        lines = sandbox.output().splitlines()
        # Replicas share the subscriber's consumer group: order 5 reaches one of them, and the plain one.
        by_subscriber = any(line.startswith(("subscriber-0", "subscriber-1")) and "received order 5" in line
                            for line in lines)
        by_plain = any(line.startswith("plain-subscriber  app     | received order 5") for line in lines)
        return by_subscriber and by_plain

    wait_until(everyone_got_the_last_order, 60, "order 5 at both subscribers")
    wait_output(sandbox, "publisher         tandem  | app exited with code 0; stopping its sidecar", proc=proc)

    stopped = sandbox.tandem("stop", "-f", str(sandbox.root / "examples" / "multi-app"))
    assert stopped.returncode == 0, stopped.stdout
    assert proc.wait(timeout=30) == 0, sandbox.output()
    wait_until(lambda: not processes_with_home(sandbox.home), 15, "every process of the example to end")
