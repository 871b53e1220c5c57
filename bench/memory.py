"""The sidecar's resident memory when idle, as the README quotes it.

    python bench/memory.py [--settle 5] [--redis localhost:6379]

Starts a real ``tandemd`` on the default files ``tandem init`` writes (the embedded
SQLite state store and pub/sub, and the default Configuration; ``--redis``: the
Redis ones) in a fresh ``TANDEM_HOME``, with every installed plugin loaded (as a
user gets it: ``tandem-redis`` is installed by ``make install``), and, for the
embedded files, again with plugin autoload off (the core alone). After the sidecar is healthy, it samples the process with
psutil every 0.5 s for ``--settle`` seconds (start-up allocations settle) and prints
the last sample: RSS (resident, shared pages included) and USS (memory only this
process holds). No app is attached; nothing is asserted: this is a measurement.
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import psutil

from common import start_tandemd
from tandem.sidecar.cli.init_cmd import write_defaults

_MB = 1024 * 1024


def measure(folder: Path, settle: float, redis_host: str | None, autoload: bool) -> tuple[float, float, float]:
    """(RSS MB, USS MB, seconds to healthy) of one idle sidecar on the default files."""
    home = folder / "home"
    write_defaults(home, force=True, redis_host=redis_host)
    if autoload:
        os.environ.pop("TANDEM_DISABLE_PLUGIN_AUTOLOAD", None)
    else:
        os.environ["TANDEM_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    proc, _, startup = start_tandemd(folder, "memory", "--resources-path", str(home / "components"),
                                     "--config", str(home / "config.yaml"), "--metrics-port", "0")
    try:
        ps = psutil.Process(proc.pid)
        info = ps.memory_full_info()
        deadline = time.monotonic() + settle
        while time.monotonic() < deadline:
            time.sleep(0.5)
            info = ps.memory_full_info()
        return info.rss / _MB, info.uss / _MB, startup
    finally:
        proc.terminate()
        proc.wait(15)
        os.environ.pop("TANDEM_DISABLE_PLUGIN_AUTOLOAD", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to let start-up settle (default 5)")
    parser.add_argument("--redis", metavar="HOST:PORT", help="the Redis default components instead of SQLite")
    args = parser.parse_args()
    defaults = f"Redis at {args.redis}" if args.redis else "embedded SQLite"
    print(f"\nidle tandemd on the default components ({defaults}), after {args.settle:g}s settling\n")
    print(f"{'plugins':<34}{'RSS MB':>10}{'USS MB':>10}{'healthy after s':>18}")
    runs = [(True, "installed ones loaded (as shipped)")]
    if args.redis is None:  # the Redis files need the plugin
        runs.append((False, "autoload off (core only)"))
    for autoload, label in runs:
        with tempfile.TemporaryDirectory() as tmp:
            rss, uss, startup = measure(Path(tmp), args.settle, args.redis, autoload)
        print(f"{label:<34}{rss:>10.1f}{uss:>10.1f}{startup:>18.2f}")


if __name__ == "__main__":
    main()
