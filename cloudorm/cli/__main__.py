"""``python -m cloudorm.cli``: the ``cloudorm`` command."""

import sys

from cloudorm.cli import main

sys.exit(main())
