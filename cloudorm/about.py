"""What this cloudorm is: ``version()``, from the installed package's metadata (``cloudorm --version``, the local
cloud's ``/_cloudorm/version``)."""

from __future__ import annotations

import functools


@functools.cache
def version() -> str:
    """cloudorm's version as installed (``importlib.metadata``); the source's ``__version__`` when it runs from a
    checkout that is not installed."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("cloudorm")
    except PackageNotFoundError:
        import cloudorm

        return cloudorm.__version__
