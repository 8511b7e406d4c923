"""Run the qa benchmarks: ``python bench/run.py [--quick]`` (see bench/README.md)."""

import sys
from pathlib import Path

# Run as a script, Python puts bench/ itself on the path; the modules import as ``bench.*``.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
