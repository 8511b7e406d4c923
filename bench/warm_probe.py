"""Warm ``ask()`` latency in one process (see bench/cold.py): the p50 a library user sees.

Run as a script (``python bench/warm_probe.py QUESTIONS.json PASSES``) so that ``import qa``
finds the installed qa of whichever interpreter runs it.  Opens the store once, asks every
question once untimed (model, Chroma index, SQLite pages, caches), then ``PASSES`` timed
passes; prints one JSON line with the per-question seconds of the timed passes.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> None:
    questions = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    passes = int(sys.argv[2])
    from qa.api import ask
    from qa.config import Settings
    from qa.index.store import Store

    store = Store.open(Settings.from_env())
    for question in questions:
        ask(question, store=store)
    seconds = []
    answers = []
    for _ in range(passes):
        for question in questions:
            started = time.perf_counter()
            answer = ask(question, store=store)
            seconds.append(time.perf_counter() - started)
            answers.append(answer.text)
    store.close()
    print(json.dumps({"seconds": seconds, "answers": answers}))


if __name__ == "__main__":
    main()
