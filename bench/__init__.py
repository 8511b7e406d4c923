"""Benchmarks for qa: ingest throughput against the raw embedder and a LlamaIndex peer, ask
latency by store size, cold starts, import time and peak memory. Run ``python bench/run.py``."""
