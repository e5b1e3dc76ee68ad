"""Plans: an entity's lifecycle written as a generator of service calls, so the entity builds requests and reads
answers while a driver does the I/O (``run`` here; an asyncio driver would ``await`` the same calls)."""

from __future__ import annotations

import time
from collections.abc import Generator
from typing import TYPE_CHECKING, Any, TypeVar

import attrs

if TYPE_CHECKING:
    from cloudorm.core.bound import SessionLike

T = TypeVar("T")


@attrs.frozen
class Call:
    """One request to a provider service: ``Call("iam", "create", ("user", "alice", {}))`` is
    ``session.iam.create("user", "alice", {})``."""

    area: str
    operation: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = attrs.field(factory=dict)

    def send(self, session: SessionLike) -> Any:
        """Run the call on ``session``'s service for its area (the synchronous driver's one step)."""
        return getattr(getattr(session, self.area), self.operation)(*self.args, **self.kwargs)


@attrs.frozen
class Pause(Call):
    """A wait between calls (polling): the synchronous driver sleeps; an asyncio driver would
    ``await asyncio.sleep``."""

    def send(self, session: SessionLike) -> None:
        """Sleep for the pause's seconds."""
        time.sleep(self.args[0])


Plan = Generator[Call, Any, T]
"""A generator yielding the calls to make and receiving each answer (or its exception); returns the result."""


def call(area: str, operation: str, *args: Any, **kwargs: Any) -> Plan[Any]:
    """A plan of one call: ``answer = yield from call("iam", "get", "user", name)``."""
    answer = yield Call(area, operation, args, kwargs)
    return answer


def pause(seconds: float) -> Plan[None]:
    """A plan that waits ``seconds`` without a request: ``yield from pause(0.5)`` between polls."""
    yield Pause("clock", "sleep", (seconds,))


def run(session: SessionLike, plan: Plan[T]) -> T:
    """Drive ``plan`` synchronously: send each call, give back its answer, or throw its exception into the plan."""
    try:
        step = next(plan)
        while True:
            try:
                answer = step.send(session)
            except Exception as error:  # the plan decides which errors it handles
                step = plan.throw(error)
            else:
                step = plan.send(answer)
    except StopIteration as done:
        result: T = done.value
        return result
