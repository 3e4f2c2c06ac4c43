"""The ``oms`` command line: ``main`` is the console script's entry point.

Each subcommand imports what it uses when it runs, so ``oms --help`` starts in a few
tens of milliseconds; the modules here are the tools' layer, the top of the package.
"""

from oms.cli.main import main

__all__ = ["main"]
