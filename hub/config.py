"""``hub.yaml``: the fleet hub's configuration, validated as strictly as a site's (unknown keys
are errors, every cross-reference is checked and each error names its field)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, field_validator, model_validator

from core.config_files import NAME_PATTERN, FieldError, Section
from core.time_zones import known_time_zone

MIN_TOKEN_CHARS = 16


class HubRole(StrEnum):
    """What a person does at the centre (each token carries its holder's role and scope)."""

    STREET_OFFICE = "street_office"  # the whole area: every grid, the last escalation level
    SUPERVISOR = "supervisor"  # one grid: acts on its cases, lists and closes supervised cases
    OFFICER = "officer"  # one site's safety officer: acts on that site's cases only
    VIEWER = "viewer"  # reads a grid or a site


class HubMqtt(Section):
    """The central broker (standard MQTT 5 only: any cluster that speaks it works)."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    topic_prefix: str = Field(default="sitewatch", pattern=r"^[^#+$]*[^#+/]$")
    share_group: str = Field(
        default="sitewatch-hub",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Shared subscription group ($share/<group>/...): hub processes in the same"
        " group share the events.",
    )
    client_id: str = Field(
        default="sitewatch-hub-1",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="Unique per hub process (`sitewatch hub --client-id`); its persistent"
        " session keeps what arrives while it is down.",
    )
    session_expiry_s: int = Field(default=7 * 86400, ge=0, le=4_294_967_295)
    receive_maximum: int = Field(
        default=200, ge=1, le=65535, description="Unacknowledged events in flight at once."
    )
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.password is not None and self.username is None:
            raise FieldError(("username",), "a password needs a username")
        return self


class HubDatabase(Section):
    """PostgreSQL (libpq connection string; the password via ${ENV_VAR})."""

    dsn: SecretStr = Field(description="e.g. host=db port=5432 user=hub dbname=hub")
    connect_timeout_s: int = Field(default=5, ge=1, le=120)


class HubEvidence(Section):
    """Where fetched evidence is kept (a directory; the interface also fits object storage)."""

    enabled: bool = True
    dir: Path = Path("data/hub-evidence")
    timeout_s: float = Field(default=10.0, gt=0, le=300)
    retry_min_s: float = Field(default=2.0, gt=0, le=3600)
    retry_max_s: float = Field(default=300.0, gt=0, le=86400)
    workers: int = Field(default=2, ge=1, le=32)
    max_bytes: int = Field(default=200 * 1024 * 1024, ge=1024, description="Largest file.")

    @model_validator(mode="after")
    def _retries(self) -> Self:
        if self.retry_max_s < self.retry_min_s:
            raise FieldError(("retry_max_s",), "must be at least retry_min_s")
        return self


class HubSync(Section):
    """Gap detection against each edge's audit trail."""

    check_s: float = Field(default=5.0, gt=0, le=3600, description="How often gaps are looked for.")
    grace_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="An event the trail names but MQTT has not brought for this long is fetched"
        " from the edge's API.",
    )
    poll_s: float = Field(
        default=60.0, gt=0, le=86400, description="Ask each edge for its trail this often anyway."
    )
    page: int = Field(default=500, ge=1, le=5000)
    timeout_s: float = Field(default=10.0, gt=0, le=300)


class HubApi(Section):
    """The hub's HTTP API and central console."""

    host: str = "127.0.0.1"
    port: int = Field(default=8090, ge=0, le=65535)


class HubEscalation(Section):
    """Overdue cases go to the grid supervisor, then to the street office."""

    supervisor_after_h: float = Field(
        default=0.0, ge=0, le=24 * 365, description="Hours after the deadline."
    )
    street_office_after_h: float = Field(
        default=24.0, ge=0, le=24 * 365, description="Hours after the deadline."
    )
    check_s: float = Field(default=30.0, gt=0, le=86400)
    command_resend_s: float = Field(
        default=30.0, gt=0, le=86400, description="Pending commands are sent again this often."
    )

    @model_validator(mode="after")
    def _order(self) -> Self:
        if self.street_office_after_h < self.supervisor_after_h:
            raise FieldError(("street_office_after_h",), "must be at least supervisor_after_h")
        return self


class HubSite(Section):
    """One enterprise's edge node."""

    id: str = Field(pattern=NAME_PATTERN, description="The edge's site.id (its MQTT topics).")
    name: str = Field(min_length=1, max_length=200)
    api_url: str = Field(
        pattern=r"^https?://[^\s/]+(/[^\s]*)?[^/\s]$",
        description="The edge's API base URL (evidence, audit trail, missed events).",
    )
    token: SecretStr = Field(description="An auditor token of that edge; use ${ENV_VAR}.")
    timezone: str = Field(
        default="UTC",
        description="IANA time zone of the site (its edge's site.timezone): the central console"
        " shows the site's alerts in it.",
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str) -> str:
        return known_time_zone(zone)

    @model_validator(mode="after")
    def _token(self) -> Self:
        if len(self.token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise FieldError(("token",), f"token must be at least {MIN_TOKEN_CHARS} characters")
        return self


class HubGrid(Section):
    """A grid of the street office: the sites in it and its supervisor."""

    id: str = Field(pattern=NAME_PATTERN)
    name: str = Field(min_length=1, max_length=200)
    supervisor: str = Field(min_length=1, description="A person with role supervisor here.")
    sites: list[str] = Field(min_length=1)


class HubPerson(Section):
    """Someone who uses the centre: role, scope (a grid or a site) and API token."""

    name: str = Field(min_length=1, max_length=100)
    role: HubRole
    grid: str | None = Field(default=None, description="Scope: supervisors, viewers.")
    site: str | None = Field(default=None, description="Scope: officers, viewers.")
    token: SecretStr

    @model_validator(mode="after")
    def _scope(self) -> Self:
        if len(self.token.get_secret_value()) < MIN_TOKEN_CHARS:
            raise FieldError(("token",), f"token must be at least {MIN_TOKEN_CHARS} characters")
        if self.grid is not None and self.site is not None:
            raise FieldError(("site",), "a person's scope is a grid or a site, not both")
        needs = {
            HubRole.STREET_OFFICE: (False, False),
            HubRole.SUPERVISOR: (True, False),
            HubRole.OFFICER: (False, True),
        }
        grid_needed, site_needed = needs.get(self.role, (False, False))
        if self.role is HubRole.STREET_OFFICE and (self.grid or self.site):
            raise FieldError(("grid" if self.grid else "site",), "the street office sees all")
        if grid_needed and self.grid is None:
            raise FieldError(("grid",), f"a {self.role.value} needs the grid they supervise")
        if site_needed and self.site is None:
            raise FieldError(("site",), f"an {self.role.value} needs their site")
        if self.role is HubRole.VIEWER and self.grid is None and self.site is None:
            raise FieldError(("grid",), "a viewer needs a grid or a site")
        return self


class StreetOffice(Section):
    """The area the hub supervises."""

    name: str = Field(min_length=1, max_length=200)


class HubConfig(Section):
    """The whole hub.yaml."""

    street_office: StreetOffice
    mqtt: HubMqtt = HubMqtt()
    database: HubDatabase
    evidence: HubEvidence = HubEvidence()
    sync: HubSync = HubSync()
    api: HubApi = HubApi()
    escalation: HubEscalation = HubEscalation()
    sites: list[HubSite] = Field(min_length=1)
    grids: list[HubGrid] = Field(min_length=1)
    people: list[HubPerson] = Field(default_factory=list)

    @model_validator(mode="after")
    def _references(self) -> Self:
        _unique("sites", [s.id for s in self.sites], "id")
        _unique("grids", [g.id for g in self.grids], "id")
        _unique("people", [p.name for p in self.people], "name")
        tokens = [p.token.get_secret_value() for p in self.people]
        for index, token in enumerate(tokens):
            if token in tokens[:index]:
                raise FieldError(("people", index, "token"), "two people share this token")
        site_ids = {s.id for s in self.sites}
        owner: dict[str, str] = {}
        for g_index, grid in enumerate(self.grids):
            for s_index, site in enumerate(grid.sites):
                where = ("grids", g_index, "sites", s_index)
                if site not in site_ids:
                    raise FieldError(where, f"unknown site '{site}' (not in sites)")
                if site in owner:
                    raise FieldError(where, f"site '{site}' is already in grid '{owner[site]}'")
                owner[site] = grid.id
        for index, site_config in enumerate(self.sites):
            if site_config.id not in owner:
                raise FieldError(("sites", index, "id"), f"site '{site_config.id}' is in no grid")
        people = {p.name: p for p in self.people}
        grid_ids = {g.id for g in self.grids}
        for index, person in enumerate(self.people):
            if person.grid is not None and person.grid not in grid_ids:
                raise FieldError(("people", index, "grid"), f"unknown grid '{person.grid}'")
            if person.site is not None and person.site not in site_ids:
                raise FieldError(("people", index, "site"), f"unknown site '{person.site}'")
        for index, grid in enumerate(self.grids):
            boss = people.get(grid.supervisor)
            if boss is None or boss.role is not HubRole.SUPERVISOR or boss.grid != grid.id:
                raise FieldError(
                    ("grids", index, "supervisor"),
                    f"'{grid.supervisor}' must be a person with role supervisor and grid"
                    f" '{grid.id}'",
                )
        return self

    def grid_of(self, site: str) -> str:
        """The grid a site belongs to."""
        return next(g.id for g in self.grids if site in g.sites)

    def site(self, site_id: str) -> HubSite | None:
        """A configured site, None for an unknown id."""
        return next((s for s in self.sites if s.id == site_id), None)


def _unique(section: str, values: list[str], key: str) -> None:
    for index, value in enumerate(values):
        if value in values[:index]:
            raise FieldError((section, index, key), f"duplicate {key} '{value}'")
