"""One module per area describing its entity kinds for ``tests/test_lifecycle.py`` (the one lifecycle suite).

Each module defines ``KINDS: list[Kind]``; adding a kind there runs every lifecycle rule on it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs


@attrs.frozen
class Kind:
    """How the lifecycle suite makes and changes one entity kind on a session.

    ``make(session, uid)`` returns a new, unsaved object whose resource does not exist yet (parents it needs, such
    as a table or a cluster, are made and saved by ``make`` itself, named after ``uid``); ``change(entity)`` makes a
    local change that ``save()`` must send; ``twin(entity)`` is another new object for the same resource (adopted
    by ``save()``); ``cleanup(session, uid)`` removes parents. Flags switch off rules that cannot apply to a kind,
    each with the reason in ``why``."""

    name: str
    make: Callable[[Any, str], Any]
    change: Callable[[Any], None]
    twin: Callable[[Any], Any]
    cleanup: Callable[[Any, str], None] = lambda session, uid: None
    adopts: bool = True
    why: str = ""
