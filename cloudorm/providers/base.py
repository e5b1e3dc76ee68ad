"""The provider layer's contract under its historical name: everything is defined in ``cloudorm.providers.contract``.

Entities talk only to these services (``session.nosql``, ``session.storage``, ...). A provider implements the areas
it supports; asking for any other area, or an operation its service lacks, raises ``Unsupported`` before any request.
"""

from cloudorm.providers.contract import *  # noqa: F403
from cloudorm.providers.contract import __all__ as __all__
