"""moto's state as bytes and back, for ``--state`` snapshots: every moto backend in use (each service, account and
region that has been touched), pickled in one piece so objects shared between them stay shared.

moto's backends pickle with a few exceptions that ``StatePickler`` rewrites: locks (a new one is made), weak-value
dictionaries and ``defaultdict``s of a lambda (kept as their items), the ``BackendDict``s themselves (references
to this process's live ones), and AWS's ~1,600 managed IAM policies (per account and partition), which are kept by
name (with their attachment count) and rebuilt from moto's data on load rather than written into every snapshot
(changes to them other than attachments, which AWS refuses anyway, are not kept); an IAM backend that has not made
them yet (``aws_policies.py``) is kept so, and makes them when first read after loading.
"""

from __future__ import annotations

import collections
import copyreg
import importlib
import io
import pickle
import sys
import threading
import weakref
from typing import Any

from cloudorm.providers.local import aws_policies

MotoState = dict[tuple[str, str], dict[str, dict[str, Any]]]
"""moto's backends in use: ``{(module, attribute of its BackendDict): {account: {region: backend}}}``."""

_LOCK_TYPES = (type(threading.Lock()), type(threading.RLock()))
_EMPTY_FACTORIES = {dict: dict, list: list, set: set, int: int}
_where_cache: dict[int, tuple[str, str]] = {}
_loading = threading.local()
"""During ``loads``: the AWS managed policies rebuilt so far, ``{(account, partition, name): policy}``."""


def live_state() -> MotoState:
    """moto's backends in use, as live objects (to pickle with ``dumps`` while no request changes them). An IAM
    backend as moto makes it (moto makes one per partition on first use) is left out: moto makes it again."""
    aws_policies.install()
    return {_where(bd): {account: {region: backend for region, backend in regions.items() if not _pristine(backend)}
                         for account, regions in bd.items()}
            for bd in list(_in_use())}


def _in_use() -> list[Any]:
    """moto's list of the ``BackendDict``s in use (a service's is added when one of its accounts is first used)."""
    from moto.core.base_backend import BackendDict

    instances: list[Any] = BackendDict._instances  # type: ignore[misc]
    return instances


def _pristine(backend: Any) -> bool:
    """Whether ``backend`` is an IAM backend nothing changed (pickled as a new one with the same AWS policies)."""
    kind = type(backend)
    if kind.__name__ != "IAMBackend" or kind.__module__ != "moto.iam.models":
        return False
    key = (backend.account_id, backend.region_name)
    fresh = _fresh_iam.get(key)
    if fresh is None:  # a new one has not made AWS's managed policies yet (install() ran in live_state)
        fresh = _fresh_iam[key] = dumps(kind(backend.region_name, backend.account_id))
    return dumps(backend) == fresh


_fresh_iam: dict[tuple[str, str], bytes] = {}


def install(state: MotoState) -> None:
    """Make ``state`` moto's state in this process (what moto had in memory is dropped)."""
    in_use = _in_use()
    for bd in list(in_use):
        bd.clear()
    in_use.clear()
    for (module, attribute), accounts in state.items():
        bd = _live_backend_dict(module, attribute)
        for account, regions in accounts.items():
            account_backends = bd[account]  # made and registered as in use, as moto does on first use
            for region, backend in regions.items():
                dict.__setitem__(account_backends, region, backend)


def dumps(obj: Any) -> bytes:
    """Pickle ``obj`` (which may hold moto's backends) with ``StatePickler``."""
    out = io.BytesIO()
    StatePickler(out, protocol=5).dump(obj)
    return out.getvalue()


def loads(data: bytes) -> Any:
    """Unpickle what ``dumps`` made (moto's AWS managed policies are rebuilt from moto's own data)."""
    aws_policies.install()
    _loading.policies = {}
    try:
        return pickle.loads(data)
    finally:
        del _loading.policies


class StatePickler(pickle.Pickler):
    """A pickler for moto's backends (see the module's docstring for what it rewrites)."""

    def reducer_override(self, obj: Any) -> Any:
        """How ``obj`` is pickled when the default would fail or bloat the snapshot (NotImplemented: the default)."""
        kind = type(obj)
        if kind in _LOCK_TYPES:
            return kind, ()
        if kind is weakref.WeakValueDictionary:
            return weakref.WeakValueDictionary, (dict(obj),)
        if kind is collections.defaultdict and _is_local(obj.default_factory):
            return _defaultdict, (_plain_factory(obj.default_factory), dict(obj))
        module = kind.__module__
        if not module.startswith("moto."):
            return NotImplemented
        name = kind.__name__
        if name == "BackendDict":
            return _live_backend_dict, _where(obj)
        if name == "AccountSpecificBackend":
            return _live_account_backends, (*_where(_backend_dict_of(obj)), obj.account_id)
        if name == "AWSManagedPolicy" and module == "moto.iam.models":
            return _aws_managed_policy, (obj.account_id, obj.partition, obj.name, obj.attachment_count)
        if name == "IAMBackend" and module == "moto.iam.models":
            return _iam_backend_reduce(obj)
        return NotImplemented


def _is_local(factory: Any) -> bool:
    """Whether a ``defaultdict``'s factory is a lambda or local function (which pickle cannot name)."""
    return factory is not None and "<" in getattr(factory, "__qualname__", "<")


def _plain_factory(factory: Any) -> Any:
    """The plain type a local factory stands for (``lambda: {}`` is ``dict``); a TypeError if it is not so plain."""
    sample = factory()
    plain = _EMPTY_FACTORIES.get(type(sample))
    if plain is None or sample != plain():
        raise TypeError(f"cannot keep a defaultdict whose factory {factory.__qualname__} makes {sample!r}")
    return plain


def _defaultdict(factory: Any, items: dict[Any, Any]) -> collections.defaultdict[Any, Any]:
    """Rebuild a ``defaultdict`` (unpickling)."""
    return collections.defaultdict(factory, items)


def _where(bd: Any) -> tuple[str, str]:
    """The module and attribute naming a ``BackendDict`` (e.g. ``("moto.dynamodb.models", "dynamodb_backends")``)."""
    found = _where_cache.get(id(bd))
    if found is not None:
        return found
    backend_module = bd.backend.__module__
    for module_name in (backend_module, backend_module.rpartition(".")[0]):
        module = sys.modules.get(module_name)
        for attribute, value in vars(module or object()).items():
            if value is bd:
                _where_cache[id(bd)] = (module_name, attribute)
                return module_name, attribute
    raise TypeError(f"cannot find where moto keeps its {bd.service_name} backends")


def _backend_dict_of(account_backends: Any) -> Any:
    """The live ``BackendDict`` holding an ``AccountSpecificBackend``."""
    for bd in _in_use():
        if bd.service_name == account_backends.service_name and bd.backend is account_backends.backend:
            return bd
    raise TypeError(f"moto's {account_backends.service_name} backends are not in use")


def _live_backend_dict(module: str, attribute: str) -> Any:
    """This process's ``BackendDict`` named so (unpickling)."""
    return getattr(importlib.import_module(module), attribute)


def _live_account_backends(module: str, attribute: str, account: str) -> Any:
    """This process's backends of one account of one service (unpickling)."""
    return _live_backend_dict(module, attribute)[account]


def _aws_managed_policy(account: str, partition: str, name: str, attachment_count: int | None) -> Any:
    """An AWS managed policy rebuilt from moto's data, one object per account and partition (unpickling);
    ``attachment_count`` None keeps the one it has."""
    policies: dict[tuple[str, str, str], Any] = _loading.policies
    policy = policies.get((account, partition, name))
    if policy is None:
        policy = policies[account, partition, name] = aws_policies.policy(account, partition, name)
    if attachment_count is not None:
        policy.attachment_count = attachment_count
    return policy


def _iam_backend_reduce(backend: Any) -> tuple[Any, ...]:
    """An IAM backend without AWS's managed policies (``_set_iam_state`` rebuilds them; those attached to a user,
    group or role are pickled there, by name and attachment count); one that has not made them is kept so."""
    state = dict(vars(backend))
    if not aws_policies.made(backend):
        return copyreg.__newobj__, (type(backend),), state  # type: ignore[attr-defined]
    aws, managed = state["aws_managed_policies"], state["managed_policies"]
    state["aws_managed_policies"] = None if _all_of_motos(aws) else [p.name for p in aws]
    state["managed_policies"] = {} if len(managed) == len(aws) else {
        arn: p for arn, p in managed.items() if type(p).__name__ != "AWSManagedPolicy"}
    return copyreg.__newobj__, (type(backend),), state, None, None, _set_iam_state  # type: ignore[attr-defined]


def _all_of_motos(policies: list[Any]) -> bool:
    """Whether an IAM backend's AWS managed policies are all of moto's, in moto's order (as moto makes them)."""
    known = _all_policies.get(id(policies))
    if known is None or known[0] is not policies:  # moto never changes the list it made: checked once
        known = (policies, [p.name for p in policies] == list(aws_policies.policies_data()))
        _all_policies[id(policies)] = known
    return known[1]


_all_policies: dict[int, tuple[list[Any], bool]] = {}


def _set_iam_state(backend: Any, state: dict[str, Any]) -> None:
    """Give an unpickled IAM backend its state, with every AWS managed policy it had (unpickling)."""
    if "aws_managed_policies" not in state:  # made when first read
        backend.__dict__.update(state)
        return
    names = state["aws_managed_policies"]
    account, partition = state["account_id"], state["partition"]
    aws = [_aws_managed_policy(account, partition, name, None)
           for name in (list(aws_policies.policies_data()) if names is None else names)]
    state["aws_managed_policies"] = aws
    state["managed_policies"] = {**{p.arn: p for p in aws}, **state["managed_policies"]}
    backend.__dict__.update(state)
