"""One cold ``qa ask``, phase by phase, in the process running this script (see bench/cold.py).

Run as a script (``python bench/cold_probe.py QUESTION``) so that ``import qa`` finds the
installed qa of whichever interpreter runs it: the same probe times this checkout and an
unmodified baseline install.  It does what ``qa ask`` does, in order, timing each phase:

imports      the CLI and library modules a ``qa ask`` imports, the answer engine included
store open   SQLite, then the Chroma collection (the client, or the Rust-core reader)
model load   the embedding model's ONNX session and its tokenizer
query        embedding the question and the two searches (``Answer.timings``)
answer       the answer engine and citations (``Answer.timings``)

Prints one JSON line.  Interpreter start-up is not in it: bench/cold.py measures it apart.
"""

from __future__ import annotations

import importlib
import json
import sys
import time


def main() -> None:
    question = sys.argv[1]
    started = time.perf_counter()
    import qa.cli  # noqa: F401  (typer, rich: what `qa ask` loads before the command runs)
    from qa.api import ask
    from qa.config import Settings
    from qa.index import embed
    from qa.index.store import Store

    importlib.import_module("qa.backends.offline.answerer")
    imported = time.perf_counter()

    store = Store.open(Settings.from_env())
    store.require_documents()
    if hasattr(store, "_local_reader"):  # this checkout: the Rust-core reader, else the client
        if store._local_reader() is None:
            store._vectors(create=False)
    else:
        store._vectors(create=False)
    opened = time.perf_counter()

    if hasattr(embed, "_load_tokenizer"):
        embedder = store.embedder
        embed._load_tokenizer(embedder.max_tokens)  # type: ignore[attr-defined]
        embedder._session_for(1)  # type: ignore[attr-defined]
        # The probe's own load counts as one of the light calls; give it back.
        embed._light_calls -= 1  # type: ignore[attr-defined]
    else:
        embed._load_minilm(store.embedder.max_tokens)  # type: ignore[attr-defined]
    loaded = time.perf_counter()

    answer = ask(question, store=store)
    finished = time.perf_counter()
    store.close()
    print(
        json.dumps(
            {
                "imports_s": imported - started,
                "store_open_s": opened - started - (imported - started),
                "model_load_s": loaded - opened,
                "query_s": answer.timings["retrieve_s"],
                "answer_s": answer.timings["answer_s"],
                "in_process_s": finished - started,
                "abstained": answer.abstained,
                "answer": answer.text,
            }
        )
    )


if __name__ == "__main__":
    main()
