"""The entity core: one resource base, record-backed fields, lifecycle plans and the session protocol that every
entity of every area is built on."""

from cloudorm.core.bound import SessionLike
from cloudorm.core.fields import UNSET, field, stored
from cloudorm.core.plans import Call, Plan, call, pause, run
from cloudorm.core.resource import Found, Record, Resource, changes, resource, state

__all__ = ["UNSET", "Call", "Found", "Plan", "Record", "Resource", "SessionLike", "call", "changes", "field", "pause",
           "resource", "run", "state", "stored"]
