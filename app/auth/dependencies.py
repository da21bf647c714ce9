"""Who is calling, and may they: ``require(role)`` is declared next to every route.

The dependency is ``async`` and, with the key in the process cache, touches neither the
database nor the thread pool: hot reads stay as cheap as they were.
"""

import asyncio
from typing import Annotated, Any

from fastapi import Depends, Request

from app.auth import service
from app.auth.actor import ANONYMOUS, Actor, Role
from app.core import errors
from app.core.request_record import note_caller
from app.web.dependencies import database_of


class RoleRequirement:
    """A FastAPI dependency: the calling key's Actor, if its role is at least ``role``.

    ``required_role`` is read by the permission-matrix test from ``app.routes``.
    """

    def __init__(self, role: Role) -> None:
        if role is Role.system:
            raise ValueError("no route requires the system role: keys never hold it")
        self.required_role = role
        self.__name__ = f"require_{role}"

    def __repr__(self) -> str:
        return f"require({self.required_role})"

    async def __call__(self, request: Request) -> Actor:
        state: Any = request.app.state
        limits = state.rate_limits
        request_id = getattr(request.state, "request_id", None)
        address = _address(request)
        # Before the key is looked at: past the limit a guess must not be tried at all, or a
        # correct one would still get in (the limit would only change 401 into 429).
        limits.refuse_locked_out(address)
        header = request.headers.get("authorization")
        if header is None:
            limits.count_address(address)
            if self.required_role is Role.reader and state.settings.public_read:
                return ANONYMOUS.in_request(request_id)
            raise errors.Unauthorized(
                "This route needs an API key: send `Authorization: Bearer <key>`."
            )
        scheme, _, raw_key = header.partition(" ")
        raw_key = raw_key.strip()
        caller = None
        if scheme.lower() == "bearer" and raw_key:
            caller = await service.authenticate(raw_key, database_of(request).read)
        if caller is None:
            limits.count_failure(address)
            raise errors.Unauthorized(
                "The API key is malformed, unknown or revoked "
                "(send `Authorization: Bearer ct_...`)."
            )
        note_caller(caller.key_id, str(caller.role))  # for the request's log line
        limits.count_key(caller.key_id)
        if not caller.role.at_least(self.required_role):
            raise errors.Forbidden(
                f"This needs the {self.required_role} role; "
                f"the key {caller.name!r} has the {caller.role} role.",
                required_role=str(self.required_role),
            )
        if service.CACHE.due_for_touch(caller.prefix):
            _touch_later(request, caller.key_id)
        return caller.actor(request_id)


def _touch_later(request: Request, key_id: int) -> None:
    """Record last_used_at without making the request wait for a write."""
    database = database_of(request)
    if database.bind is not None:
        # A test database bound to one connection takes no concurrent writer: write in line.
        service.touch(database.engine, key_id, bind=database.bind)
        return
    # Fire and forget in the thread pool; touch() logs its own errors.
    asyncio.get_running_loop().run_in_executor(None, service.touch, database.engine, key_id)


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


_REQUIREMENTS = {
    role: RoleRequirement(role) for role in (Role.reader, Role.checker, Role.editor, Role.admin)
}


def require(role: Role) -> RoleRequirement:
    """The dependency for a route that needs at least ``role`` (one object per role)."""
    return _REQUIREMENTS[role]


READER = Depends(require(Role.reader))
CheckerActor = Annotated[Actor, Depends(require(Role.checker))]
EditorActor = Annotated[Actor, Depends(require(Role.editor))]
AdminActor = Annotated[Actor, Depends(require(Role.admin))]
