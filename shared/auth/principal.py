"""The caller, as the token says: user, tenant and roles. Never from the request body.

Roles are ordered ``viewer < trader < operator < admin``; an endpoint declares the
lowest role it accepts and a caller holding any higher role passes too.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    TRADER = 2
    OPERATOR = 3
    ADMIN = 4

    @classmethod
    def parse(cls, name: str) -> Role | None:
        try:
            return cls[name.strip().upper()]
        except KeyError:
            return None

    @property
    def label(self) -> str:
        return self.name.lower()


class AuthError(Exception):
    """401: no token, or a token that does not verify. The message is safe to show."""


class Forbidden(Exception):
    """403: a valid caller without the role the endpoint needs."""


@dataclass(frozen=True)
class Principal:
    user_id: str
    tenant_id: str
    roles: frozenset[Role]
    display_name: str = ""

    @property
    def role(self) -> Role:
        """The highest role held (what the hierarchy grants)."""
        return max(self.roles) if self.roles else Role.VIEWER

    def require(self, minimum: Role) -> None:
        if not self.roles or self.role < minimum:
            raise Forbidden(f"this action needs the {minimum.label} role; you have {self.role.label}")
