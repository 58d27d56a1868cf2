"""Stage 7, cli: the ``rdbench`` command. One module per command: parse options, call the stages
below, print. No measuring or analysis logic lives here.

May import: every stage.
"""

from rdbench.cli.main import main

__all__ = ["main"]
