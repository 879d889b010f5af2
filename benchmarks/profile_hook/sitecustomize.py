"""Loaded by every Python process that has this folder on PYTHONPATH (``python -m benchmarks --profile``).

In a service named in ``BENCH_PROFILE_SERVICES`` (``python -m <name>_service``), it starts pyinstrument at
start-up and saves the session to ``BENCH_PROFILE_DIR/<name>.pyisession`` when the process exits (the services
exit normally on SIGTERM). Any other process is left alone.
"""

from __future__ import annotations

import atexit
import os
import sys
from pathlib import Path


def _service_name() -> str | None:
    argv = sys.orig_argv if hasattr(sys, "orig_argv") else sys.argv
    if "-m" in argv:
        module = argv[argv.index("-m") + 1] if argv.index("-m") + 1 < len(argv) else ""
        if module.endswith("_service"):
            return module.removesuffix("_service")
    return None


def _start() -> None:
    name = _service_name()
    wanted = {n.strip() for n in os.environ.get("BENCH_PROFILE_SERVICES", "").split(",") if n.strip()}
    if name is None or name not in wanted:
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001, async_mode="disabled")
    profiler.start()

    def save() -> None:
        session = profiler.stop()
        directory = Path(os.environ.get("BENCH_PROFILE_DIR", "."))
        directory.mkdir(parents=True, exist_ok=True)
        session.save(str(directory / f"{name}.pyisession"))

    atexit.register(save)


_start()
