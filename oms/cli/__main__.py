"""``python -m oms.cli``: the same entry point as the ``oms`` console script."""

import sys

from oms.cli.main import main

sys.exit(main())
