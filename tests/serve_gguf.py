"""Serve a GGUF model with llama.cpp's own HTTP server until the process is stopped.

    python -m tests.serve_gguf --model FILE --port PORT [--alias NAME] [--n-ctx N] [--threads N]

The server is ``llama-server``'s C++ code as the ``xllamacpp`` wheel ships it, prebuilt
(manylinux2014, no compiler, no download): an OpenAI-compatible endpoint at
``http://127.0.0.1:PORT/v1``.  ``tests.helpers.llama_server`` starts it once per session.
"""

from __future__ import annotations

import argparse
import os
import threading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--alias", default="local")
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args()
    # Threads that wait by sleeping, not spinning: on a shared 2-core machine spinning
    # threads starve each other (measured under load: 60 tokens in 79 s spinning, 8 s not).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.model_alias = {args.alias}
    params.n_ctx = args.n_ctx
    params.hostnames = ["127.0.0.1"]
    params.port = args.port
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.cpuparams.poll = 0
    params.cpuparams_batch.poll = 0
    params.warmup = False
    params.sampling.seed = args.seed
    # Serves in its own threads; this one only keeps the process alive until it is stopped.
    server = xllamacpp.Server(params)
    print(f"listening on {server.listening_address}", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
