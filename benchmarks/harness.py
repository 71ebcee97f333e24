"""Measuring helpers for the benchmark runner: whole-process wall time and peak memory."""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ProcessRun:
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float = 0.0  # user + system time of the command (and its children)


def run_process(argv: list[str], *, env: dict | None = None, cwd: str | None = None,
                codes: tuple[int, ...] = (0,)) -> ProcessRun:
    """Run argv to completion (an exit code in ``codes``); its wall time and its own peak RSS (measured by a
    small helper process)."""
    helper = [sys.executable, str(Path(__file__).with_name("measure_child.py"))]
    done = subprocess.run(helper + argv, capture_output=True, text=True, env=env, cwd=cwd)
    if done.returncode != 0:
        raise RuntimeError(f"measuring {' '.join(argv)} failed: {done.stderr[-500:]}")
    result = json.loads(done.stdout)
    if result["code"] not in codes:
        raise RuntimeError(f"{' '.join(argv)} exited {result['code']}: {result['stderr']}")
    return ProcessRun(result["seconds"], result["peak_rss_kb"] / 1024, result.get("cpu_seconds", 0.0))


def median_process(argv: list[str], repeat: int, *, warmup: int = 1, **kwargs) -> ProcessRun:
    for _ in range(warmup):
        run_process(argv, **kwargs)
    runs = [run_process(argv, **kwargs) for _ in range(repeat)]
    return ProcessRun(statistics.median(r.seconds for r in runs), max(r.peak_rss_mb for r in runs))


@dataclass
class Row:
    """One benchmark: ours against a named baseline measured in the same run."""

    name: str
    ours: float
    baseline: float
    baseline_name: str
    unit: str  # "s" (lower is better) or a rate such as "img/s" (higher is better)
    note: str = ""

    @property
    def higher_is_better(self) -> bool:
        return "/s" in self.unit

    @property
    def speedup(self) -> float:
        """How many times better than the baseline (>1 is better, whatever the unit)."""
        if self.higher_is_better:
            return self.ours / self.baseline
        return self.baseline / self.ours


@contextlib.contextmanager
def loopback_server(argv_for_port):
    """Start the server ``argv_for_port(port)`` on a free 127.0.0.1 port, wait until it accepts, yield its
    base URL, stop it afterwards."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(argv_for_port(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.1):
                break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait()
