"""``python -m rdbench``: the same as the ``rdbench`` command."""

from rdbench.cli import main

main()
