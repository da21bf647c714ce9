"""Who makes a change: the actor recorded in every revision."""

from dataclasses import dataclass, replace
from enum import StrEnum


class Role(StrEnum):
    reader = "reader"
    checker = "checker"
    editor = "editor"
    admin = "admin"
    # In-process tools (seed loader, local CLI) that act without an API key. Never a key's role.
    system = "system"

    @property
    def rank(self) -> int:
        return _RANK[self]

    def at_least(self, other: "Role") -> bool:
        """reader < checker < editor < admin < system."""
        return self.rank >= other.rank


_RANK = {
    Role.reader: 1,
    Role.checker: 2,
    Role.editor: 3,
    Role.admin: 4,
    Role.system: 5,
}


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role
    key_id: int | None = None
    request_id: str | None = None

    def in_request(self, request_id: str | None) -> "Actor":
        return replace(self, request_id=request_id)


SEED_ACTOR = Actor(name="seed", role=Role.system)
CLI_ACTOR = Actor(name="cli", role=Role.system)
# Who reads when CLAIMS_PUBLIC_READ lets callers without a key in: reads record nothing.
ANONYMOUS = Actor(name="anonymous", role=Role.reader)
