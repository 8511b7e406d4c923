"""Cold ``qa ask`` on a 1,000-chunk collection: wall time, phase by phase, against a baseline.

    python -m bench.cold --baseline-src DIR --baseline-python PYTHON [--runs 7]

Each side (this checkout, and a baseline: an unmodified checkout of qa in DIR installed into
PYTHON's environment) fills its own store of ``--chunks`` chunks with its own code
(``bench.stores.fill``), then, in turns so that a busy machine slows both alike:

* ``qa ask QUESTION`` in a new process: the wall time a user waits;
* ``bench/cold_probe.py``: the same steps in a new process, timed by phase (imports, store
  open, model load, query, answer);
* ``python -c pass``: the interpreter's own start-up.

Then, also in turns, ``bench/warm_probe.py``: ``--warm-questions`` gold questions asked
in one process (after one untimed pass), for the warm p50 and to check that both sides
give the same answers.

Every figure is the median of ``--runs``; the ratio is this checkout over the baseline.
The OS file cache is warm (one untimed run of each first), as for a user's second question.
Prints a Markdown table and writes ``bench/results/cold.json``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.measure import REPO, child_env, log, median, run_process

QUESTION = "What caveats did Russia raise?"
PHASES = ("imports_s", "store_open_s", "model_load_s", "query_s", "answer_s")
COLLECTION = "bench"


def fill_store(python: str, source: Path, home: Path, chunks: int) -> dict[str, Any]:
    """A ``chunks``-chunk store in ``home``, filled by the qa and bench code under ``source``."""
    articles = sorted(str(path) for path in (source / "eval" / "articles").glob("*.txt"))
    args = {"home": str(home), "collection": COLLECTION, "target_chunks": chunks}
    argv = [python, "-m", "bench.child", "fill", json.dumps({**args, "articles": articles})]
    # From that side's folder: `python -m` puts the working directory first on the path.
    result = run_process(argv, env=side_env(source, home), capture=True, cwd=source)
    if result.returncode != 0 or not result.payload:
        raise RuntimeError(f"fill failed with {python}: {result.stderr[-800:]}")
    return result.payload


def side_env(source: Path, home: Path) -> dict[str, str]:
    env = child_env({"QA_HOME": str(home), "QA_COLLECTION": COLLECTION})
    # This side's bench and qa come first on the path, not this checkout's.
    env["PYTHONPATH"] = str(source)
    return env


class Side:
    def __init__(self, name: str, python: str, source: Path, home: Path) -> None:
        self.name, self.python, self.source, self.home = name, python, source, home
        script = Path(python).with_name("qa")
        self.qa = [str(script)] if script.is_file() else [python, "-m", "qa"]
        self.runs: dict[str, list[float]] = {"wall_s": [], "python_s": []}
        self.runs.update({phase: [] for phase in PHASES})
        self.answers: set[str] = set()
        self.warm_answers: list[str] = []

    def env(self) -> dict[str, str]:
        env = side_env(self.source, self.home)
        env.pop("PYTHONPATH")  # the installed qa, as a user runs it
        return env

    def once(self, timed: bool) -> None:
        env = self.env()
        asked = run_process([*self.qa, "ask", QUESTION], env=env, capture=True, quiet=True)
        if asked.returncode != 0:
            raise RuntimeError(f"{self.name}: qa ask failed: {asked.stderr[-800:]}")
        probe = [self.python, str(REPO / "bench" / "cold_probe.py"), QUESTION]
        probed = run_process(probe, env=env, capture=True, quiet=True)
        if probed.returncode != 0 or not probed.payload:
            raise RuntimeError(f"{self.name}: probe failed: {probed.stderr[-800:]}")
        floor = run_process([self.python, "-c", "pass"], env=env, capture=False, quiet=True)
        if not timed:
            return
        self.runs["wall_s"].append(asked.wall_s)
        self.runs["python_s"].append(floor.wall_s)
        for phase in PHASES:
            self.runs[phase].append(float(probed.payload[phase]))
        self.answers.add(str(probed.payload["answer"]))

    def warm(self, questions: Path, passes: int) -> None:
        probe = [self.python, str(REPO / "bench" / "warm_probe.py"), str(questions), str(passes)]
        result = run_process(probe, env=self.env(), capture=True, quiet=True)
        if result.returncode != 0 or not result.payload:
            raise RuntimeError(f"{self.name}: warm probe failed: {result.stderr[-800:]}")
        self.runs.setdefault("warm_ask_s", []).extend(result.payload["seconds"])
        self.warm_answers = list(result.payload["answers"])

    def medians(self) -> dict[str, float]:
        return {name: median(values) for name, values in self.runs.items()}


def table(sides: list[Side]) -> str:
    rows = [("interpreter start", "python_s"), *((p[:-2].replace("_", " "), p) for p in PHASES)]
    names = [side.name for side in sides]
    lines = [
        f"| phase (median s) | {' | '.join(names)} |" + (" ratio |" if len(sides) == 2 else ""),
        "|---|" + "---:|" * (len(sides) + (1 if len(sides) == 2 else 0)),
    ]
    medians = [side.medians() for side in sides]
    extra = [("**cold `qa ask`, wall**", "wall_s")]
    if all("warm_ask_s" in m for m in medians):
        extra.append(("warm `ask()` p50", "warm_ask_s"))
    for label, key in [*rows, *extra]:
        cells = [f"{m[key]:.3f}" for m in medians]
        ratio = ""
        if len(sides) == 2 and medians[1][key] > 0:
            ratio = f" {medians[0][key] / medians[1][key]:.2f} |"
        lines.append(f"| {label} | {' | '.join(cells)} |{ratio}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline-src", type=Path, help="an unmodified qa checkout")
    parser.add_argument("--baseline-python", help="the interpreter qa is installed for there")
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--chunks", type=int, default=1000)
    parser.add_argument("--warm-questions", type=int, default=20)
    parser.add_argument("--warm-passes", type=int, default=2)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cold.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="qa-bench-cold-"))
    try:
        sides = [Side("this checkout", sys.executable, REPO, work / "this")]
        if args.baseline_src and args.baseline_python:
            sides.append(
                Side("baseline", args.baseline_python, args.baseline_src, work / "baseline")
            )
        fills = {}
        for side in sides:
            log(f"{side.name}: filling a {args.chunks:,}-chunk store")
            fills[side.name] = fill_store(side.python, side.source, side.home, args.chunks)
        for side in sides:
            side.once(timed=False)
        for run in range(args.runs):
            log(f"cold run {run + 1}/{args.runs}")
            for side in sides if run % 2 == 0 else list(reversed(sides)):
                side.once(timed=True)
        if args.warm_questions:
            from bench.corpus import gold_questions

            questions = work / "questions.json"
            asked = [q.text for q in gold_questions(args.warm_questions)]
            questions.write_text(json.dumps(asked))
            for side in sides:
                log(f"{side.name}: warm asks")
                side.warm(questions, args.warm_passes)
            if len(sides) == 2:
                same = sides[0].warm_answers == sides[1].warm_answers
                print(f"warm answers identical on both sides: {same}\n")
        print(table(sides))
        for side in sides:
            print(f"\n{side.name}: answers seen {sorted(side.answers)}")
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(
            json.dumps(
                {
                    "question": QUESTION,
                    "chunks": {name: fill["chunks"] for name, fill in fills.items()},
                    "runs": {side.name: side.runs for side in sides},
                    "medians": {side.name: side.medians() for side in sides},
                },
                indent=2,
            )
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
