"""``python -m qa``: the same command line as the ``qa`` script."""

from qa.cli import main

main()
