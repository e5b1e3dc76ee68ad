"""``python -m cloudorm``: the ``cloudorm`` command."""

import sys

from cloudorm.cli import main

sys.exit(main())
