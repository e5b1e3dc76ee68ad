"""AWS's managed IAM policies (``arn:aws:iam::aws:policy/ReadOnlyAccess``, ...) in the local cloud, made when first
used: moto makes its ~1,600 for every IAM backend it makes (one per account and partition, and every partition's on
the first request to any service: over a second and 40 MiB); ``install()`` makes moto's IAM backends make them
when one of the backend's ``aws_managed_policies`` or ``managed_policies`` is first read (an IAM request that
lists, reads, creates or attaches a managed policy), each a copy of one made once per process. It changes moto's
``IAMBackend`` class for the whole process: another moto server in it makes them when first read too, and answers
the same.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from typing import Any

_lock = threading.RLock()
_LATER = object()
"""What moto's ``IAMBackend.__init__`` sets its policies to once ``install()`` ran: made when first read."""
_KEYS = ("aws_managed_policies", "managed_policies")


class _MadeWhenRead:
    """One of an IAM backend's attributes holding managed policies (``aws_managed_policies``, ``managed_policies``):
    kept in the backend's ``__dict__`` (so pickling sees what is made), AWS's policies made on its first read."""

    def __init__(self, name: str) -> None:
        """``name``: the attribute."""
        self.name = name

    def __get__(self, backend: Any, owner: type | None = None) -> Any:
        """The attribute, making AWS's managed policies first if they are not made yet."""
        if backend is None:
            return self
        try:
            return backend.__dict__[self.name]
        except KeyError:
            make_policies(backend)
            return backend.__dict__[self.name]

    def __set__(self, backend: Any, value: Any) -> None:
        """Set the attribute (``_LATER``: not made yet)."""
        if value is _LATER:
            backend.__dict__.pop(self.name, None)
        else:
            backend.__dict__[self.name] = value


def install() -> None:
    """Make moto's IAM backends made from now on make AWS's managed policies when first read (once per process)."""
    from moto.iam.models import IAMBackend

    with _lock:
        if isinstance(vars(IAMBackend).get(_KEYS[0]), _MadeWhenRead):
            return
        for init in ("_init_aws_policies", "_init_managed_policies"):  # what __init__ sets the two to
            setattr(IAMBackend, init, _later)
        for name in _KEYS:
            setattr(IAMBackend, name, _MadeWhenRead(name))


def _later(backend: Any) -> Any:
    """What moto's ``IAMBackend.__init__`` sets its managed policies to (made when first read)."""
    return _LATER


def made(backend: Any) -> bool:
    """Whether an IAM backend's AWS managed policies are made (read once, or as moto makes them)."""
    return _KEYS[0] in vars(backend)


def make_policies(backend: Any) -> None:
    """Give an IAM backend AWS's managed policies (none if moto's ``load_aws_managed_policies`` is off), unless it
    has them."""
    from moto.settings import load_iam_aws_managed_policies

    with _lock:
        state = vars(backend)
        if _KEYS[0] in state:
            return
        names = list(policies_data()) if load_iam_aws_managed_policies() else []
        aws = [policy(backend.account_id, backend.partition, name) for name in names]
        state["managed_policies"] = {**{p.arn: p for p in aws}, **state.get("managed_policies", {})}
        state["aws_managed_policies"] = aws


@functools.cache
def policies_data() -> dict[str, Any]:
    """moto's data of AWS's managed policies, by name (in moto's order)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data

    return dict(json.loads(aws_managed_policies_data))


def policy(account: str, partition: str, name: str) -> Any:
    """A new AWS managed policy of one account and partition, as moto makes it (a copy of one made once)."""
    template = _template(name)
    made_one = copy.copy(template)  # ~100 times faster than moto's from_data (which encodes the document)
    made_one.account_id, made_one.partition, made_one.tags = account, partition, {}
    made_one.versions = [copy.copy(version) for version in template.versions]
    for version in made_one.versions:
        version.policy_arn = made_one.arn
    return made_one


@functools.cache
def _template(name: str) -> Any:
    """An AWS managed policy as moto makes it, to copy for each account and partition."""
    from moto.iam.models import AWSManagedPolicy

    return AWSManagedPolicy.from_data(name, "000000000000", "us-east-1", policies_data()[name])
