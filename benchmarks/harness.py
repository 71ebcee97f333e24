"""Measuring helpers for the benchmark runner: whole-process wall time and peak memory."""

from __future__ import annotations

import os
import statistics
import subprocess
import time
from dataclasses import dataclass


@dataclass
class ProcessRun:
    seconds: float
    peak_rss_mb: float


def run_process(argv: list[str], *, env: dict | None = None, cwd: str | None = None) -> ProcessRun:
    """Run argv to completion; wall time and the child's own peak RSS (from wait4, not the runner's)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=cwd)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {err[-500:]}")
    if proc.stderr:
        proc.stderr.close()
    return ProcessRun(seconds, usage.ru_maxrss / 1024)


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
