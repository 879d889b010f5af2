"""Loaded by every Python process that has this folder on PYTHONPATH (``python -m benchmarks --profile``).

In a service named in ``BENCH_PROFILE_SERVICES`` (``python -m <name>_service``) it installs two signal handlers:
SIGUSR1 starts pyinstrument on the main thread, SIGUSR2 stops it and saves the session to
``BENCH_PROFILE_DIR/service_<name>.pyisession`` (so start-up and warm-up stay out of the profile). Any other process is
left alone.

For experiments, ``BENCH_SWITCH_INTERVAL`` (seconds) sets ``sys.setswitchinterval`` in every service process
(CPython's default is 0.005: a thread waiting for the GIL, such as aiosqlite's, waits up to that long while the
event loop's thread is busy).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any


def _service_name() -> str | None:
    argv = getattr(sys, "orig_argv", sys.argv)
    if "-m" in argv and argv.index("-m") + 1 < len(argv):
        module = argv[argv.index("-m") + 1]
        if module.endswith("_service"):
            return module.removesuffix("_service")
    return None


def _install() -> None:
    name = _service_name()
    if name is not None and os.environ.get("BENCH_SWITCH_INTERVAL"):
        sys.setswitchinterval(float(os.environ["BENCH_SWITCH_INTERVAL"]))
    wanted = {n.strip() for n in os.environ.get("BENCH_PROFILE_SERVICES", "").split(",") if n.strip()}
    if name is None or name not in wanted:
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005, async_mode="disabled")

    def start(*_: Any) -> None:
        if not profiler.is_running:
            profiler.start()

    def stop(*_: Any) -> None:
        if profiler.is_running:
            session = profiler.stop()
            directory = Path(os.environ.get("BENCH_PROFILE_DIR", "."))
            directory.mkdir(parents=True, exist_ok=True)
            session.save(str(directory / f"service_{name}.pyisession"))

    signal.signal(signal.SIGUSR1, start)
    signal.signal(signal.SIGUSR2, stop)


_install()
