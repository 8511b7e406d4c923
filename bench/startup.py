"""Cold starts: ``qa --help`` and ``qa ask`` in new processes, and import time by package.

A cold start here is a new process with the operating system's file cache warm (the command
runs once untimed first, which also writes the ``.pyc`` files a normal install has). That is
what a user who runs ``qa`` twice sees; a first run after boot is slower and not repeatable.
"""

from __future__ import annotations

import re
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.corpus import SEED_ARTICLE
from bench.measure import ChildResult, child_env, median, run_process

IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)")
CLI = "from qa.cli import main; main()"


def qa_command() -> list[str]:
    """The installed ``qa`` script next to this interpreter, or the same entry point via -c."""
    script = Path(sys.executable).with_name("qa")
    return [str(script)] if script.is_file() else [sys.executable, "-c", CLI]


def qa_env(home: Path | None = None, collection: str | None = None) -> dict[str, str]:
    extra = {}
    if home is not None:
        extra["QA_HOME"] = str(home)
    if collection is not None:
        extra["QA_COLLECTION"] = collection
    return child_env(extra)


def one_article_store(home: Path) -> Path:
    """A store holding the seed article, ingested by the CLI as a user would."""
    result = run_process(
        [*qa_command(), "ingest", str(SEED_ARTICLE)], env=qa_env(home), capture=False, quiet=True
    )
    if result.returncode != 0:
        raise RuntimeError(f"qa ingest failed: {result.stderr[-500:]}")
    return home


def timed_runs(argv: list[str], env: dict[str, str], runs: int) -> list[ChildResult]:
    run_process(argv, env=env, capture=False, quiet=True)  # untimed: file cache and .pyc
    results = []
    for _ in range(runs):
        result = run_process(argv, env=env, capture=False, quiet=True)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:3])} failed: {result.stderr[-500:]}")
        results.append(result)
    return results


def summarise(results: list[ChildResult]) -> dict[str, Any]:
    return {
        "wall_s": [result.wall_s for result in results],
        "peak_rss_mb": [result.peak_rss_mb for result in results],
    }


def import_breakdown(argv_tail: list[str], env: dict[str, str], runs: int) -> dict[str, Any]:
    """``python -X importtime`` of the real command: milliseconds of module execution ("self"
    time) summed by top-level package, median over runs. The sum is the whole import cost."""
    argv = [sys.executable, "-X", "importtime", "-c", CLI, *argv_tail]
    per_run: list[dict[str, float]] = []
    for _ in range(runs):
        result = run_process(argv, env=env, capture=False, quiet=True)
        packages: dict[str, float] = defaultdict(float)
        for line in result.stderr.splitlines():
            match = IMPORT_LINE.match(line)
            if match:
                packages[match.group(4).split(".")[0]] += int(match.group(1)) / 1000
        per_run.append(packages)
    names = {name for packages in per_run for name in packages}
    by_package = {name: median([run.get(name, 0.0) for run in per_run]) for name in names}
    ordered = dict(sorted(by_package.items(), key=lambda item: -item[1]))
    return {"total_ms": sum(ordered.values()), "by_package_ms": ordered}


def measure_startup(work: Path, runs: int, question: str) -> dict[str, Any]:
    home = one_article_store(work / "one-article")
    env = qa_env(home)
    python_floor = timed_runs([sys.executable, "-c", "pass"], env, runs)
    help_runs = timed_runs([*qa_command(), "--help"], env, runs)
    ask_runs = timed_runs([*qa_command(), "ask", question], env, runs)
    return {
        "python": summarise(python_floor),
        "help": summarise(help_runs),
        "ask_one_article": summarise(ask_runs),
        "imports_help": import_breakdown(["--help"], env, runs),
        "imports_ask": import_breakdown(["ask", question], env, runs),
    }


def cold_asks(
    home: Path, collection: str, questions: list[tuple[str, str | None]], runs: int
) -> list[ChildResult]:
    """``qa ask`` in a new process per question, optionally with ``--doc``."""
    env = qa_env(home, collection)
    results = []
    first = True
    for _ in range(runs):
        for question, doc in questions:
            argv = [*qa_command(), "ask", question, *(["--doc", doc] if doc else [])]
            if first:
                run_process(argv, env=env, capture=False, quiet=True)  # file cache, as above
                first = False
            result = run_process(argv, env=env, capture=False, quiet=True)
            if result.returncode != 0:
                raise RuntimeError(f"qa ask failed: {result.stderr[-500:]}")
            results.append(result)
    return results
