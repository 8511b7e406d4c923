"""Timing, statistics and child processes shared by every benchmark.

Every measured step runs in its own child process, so one step's caches, loaded model and
Chroma client cannot flatter the next, and so the peak RSS of exactly that step can be read
from the kernel (``os.wait4``) rather than sampled.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else float("nan")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile, the same definition ``qa eval`` uses for latency."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered), max(1, math.ceil(fraction * len(ordered))))
    return float(ordered[rank - 1])


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median with the range, so a reader can see how noisy a figure was."""
    return {
        "median": median(values),
        "min": min(values) if values else float("nan"),
        "max": max(values) if values else float("nan"),
        "n": len(values),
    }


@dataclass(frozen=True)
class ChildResult:
    wall_s: float
    peak_rss_mb: float
    returncode: int
    payload: dict[str, Any]
    stderr: str


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    # A user's install keeps .pyc files; an environment that disables them (as this
    # machine's does) would charge every cold start for compiling qa from source.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.update(extra or {})
    return env


def run_process(
    argv: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    capture: bool = True,
    quiet: bool = False,
    timeout_s: float = 3600.0,
    cwd: Path | None = None,
) -> ChildResult:
    """Run one process; wall time from spawn to exit, peak RSS from the kernel's rusage.

    ``capture`` keeps stdout (the child's JSON result); ``quiet`` keeps stderr in the result
    instead of passing it on, for commands such as ``qa ask`` whose messages are not progress.
    """
    with (
        tempfile.TemporaryFile("w+b") as out,
        tempfile.TemporaryFile("w+b") as err,
    ):
        started = time.perf_counter()
        process = subprocess.Popen(
            list(argv),
            cwd=cwd or REPO,
            env=env or child_env(),
            stdout=out if capture else subprocess.DEVNULL,
            stderr=err if quiet else None,
        )
        # wait4, not communicate(): only wait4 returns the child's own rusage.
        killer = threading.Timer(timeout_s, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout_text = out.read().decode("utf-8", "replace")
        stderr_text = err.read().decode("utf-8", "replace")
    payload: dict[str, Any] = {}
    for line in reversed(stdout_text.splitlines()):
        if line.startswith("{"):
            payload = json.loads(line)
            break
    return ChildResult(
        wall_s=wall,
        peak_rss_mb=usage.ru_maxrss / 1024,  # ru_maxrss is in KiB on Linux
        returncode=process.returncode,
        payload=payload,
        stderr=stderr_text,
    )


def run_child(task: str, args: dict[str, Any], *, timeout_s: float = 7200.0) -> ChildResult:
    """Run ``bench.child TASK`` with JSON arguments; raise if it fails."""
    argv = [sys.executable, "-m", "bench.child", task, json.dumps(args)]
    result = run_process(argv, timeout_s=timeout_s)
    if result.returncode != 0 or not result.payload:
        raise RuntimeError(f"bench child {task!r} failed (exit {result.returncode})")
    return result
