"""Who calls the hub: a person from hub.yaml, with a role and a scope (a grid or a site).
Every read is filtered to the sites of the scope; a site officer never sees another site."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from hub.config import HubConfig, HubRole


@dataclass(frozen=True, slots=True)
class Person:
    """The holder of a valid token and the sites they may see."""

    name: str
    role: HubRole
    grid: str | None
    site: str | None
    sites: frozenset[str]

    def sees(self, site: str) -> bool:
        """True when ``site`` is in the scope."""
        return site in self.sites

    @property
    def scope(self) -> str:
        """``street``, ``grid:<id>`` or ``site:<id>``."""
        if self.site is not None:
            return f"site:{self.site}"
        if self.grid is not None:
            return f"grid:{self.grid}"
        return "street"


class HubAuth:
    """Tokens of hub.yaml's people, compared in constant time."""

    def __init__(self, config: HubConfig) -> None:
        all_sites = frozenset(s.id for s in config.sites)
        grids = {g.id: frozenset(g.sites) for g in config.grids}
        self._people: list[tuple[bytes, Person]] = []
        for person in config.people:
            if person.site is not None:
                sites = frozenset({person.site})
            elif person.grid is not None:
                sites = grids[person.grid]
            else:
                sites = all_sites
            holder = Person(person.name, person.role, person.grid, person.site, sites)
            self._people.append((person.token.get_secret_value().encode(), holder))

    def person(self, token: str | None) -> Person | None:
        """The holder of ``token`` (None for an unknown one)."""
        if not token:
            return None
        given = token.encode()
        found = None
        for secret, holder in self._people:
            if hmac.compare_digest(secret, given):
                found = holder
        return found
