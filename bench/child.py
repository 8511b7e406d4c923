"""Child-process entry point: ``python -m bench.child TASK 'JSON-ARGS'`` prints one JSON line.

Each measured step runs in a fresh process (see :mod:`bench.measure`); this module only
dispatches, so importing it loads nothing heavy.
"""

from __future__ import annotations

import json
import resource
import sys
from collections.abc import Callable
from typing import Any


def _tasks() -> dict[str, Callable[..., dict[str, Any]]]:
    from bench import pipeline, profiling, server, stores

    tasks: dict[str, Callable[..., dict[str, Any]]] = {
        "ingest-qa": pipeline.ingest_qa,
        "embed-raw": pipeline.embed_raw,
        "retrieve-qa": pipeline.retrieve_qa,
        "ask-warm": pipeline.ask_warm,
        "fill": stores.fill,
        "server-ingest": server.ingest_mode,
        "server-open": server.open_mode,
        "profile-ingest": profiling.profile_ingest,
        "profile-cli": profiling.profile_cli,
        "profile-ask": profiling.profile_ask,
    }
    try:
        from bench import peer
    except ImportError:  # the bench extra is not installed: the peer rows are skipped
        return tasks
    tasks["ingest-peer"] = peer.ingest_peer
    tasks["retrieve-peer"] = peer.retrieve_peer
    return tasks


def main() -> None:
    task, arguments = sys.argv[1], json.loads(sys.argv[2])
    result = _tasks()[task](**arguments)
    result["self_peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
