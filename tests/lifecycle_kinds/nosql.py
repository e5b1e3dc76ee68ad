"""NoSQL kinds for the lifecycle suite: a table, and an item on a table made for it."""

from __future__ import annotations

from typing import Any

import cloudorm
from tests.lifecycle_kinds import Kind


def _table(session: Any, uid: str) -> Any:
    return session.Table(f"lifecycle-{uid}", hash_key="pk")


def _change_table(table: Any) -> None:
    table.billing = cloudorm.Provisioned(read=1, write=1)


def _item(session: Any, uid: str) -> Any:
    return _table(session, uid).save().Item(pk=uid)


def _change_item(item: Any) -> None:
    item["n"] = 1


def _cleanup(session: Any, uid: str) -> None:
    _table(session, uid).delete(missing_ok=True)


KINDS = [
    Kind("table", _table, _change_table, lambda t: _table(t.session, t.name.removeprefix("lifecycle-"))),
    Kind("item", _item, _change_item, lambda i: i._co_table.Item(pk=i["pk"]), cleanup=_cleanup),
]
