"""HTTP API and web console."""

from __future__ import annotations

from enum import StrEnum
from typing import Self

from pydantic import Field, IPvAnyNetwork, SecretStr, model_validator

from core.config_files import FieldError, Section


class Role(StrEnum):
    """What a token may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class ApiToken(Section):
    """A bearer token with a role."""

    name: str = Field(min_length=1, description="Who holds the token (shown in the audit log).")
    token: SecretStr = Field(description="The secret; use ${ENV_VAR}.")
    role: Role = Role.VIEWER

    @model_validator(mode="after")
    def _long_enough(self) -> Self:
        if len(self.token.get_secret_value()) < 16:
            raise FieldError(("token",), "token must be at least 16 characters")
        return self


class Api(Section):
    """Bind address and access tokens; no tokens means open access on a loopback bind only."""

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535, description="0 picks a free port.")
    enabled: bool = True
    public_url: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s]+[^/]$",
        description="Base URL the monitoring platform uses to fetch evidence "
        "(default http://host:port).",
    )
    tokens: list[ApiToken] = Field(
        default_factory=list,
        description="Tokens from the config (secrets via ${ENV_VAR}); tokens made with "
        "`sitewatch token create` are stored hashed in the ledger.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API from another site (CORS); "
        "empty: none (closed).",
    )
    trusted_proxies: list[IPvAnyNetwork] = Field(
        default_factory=list,
        description="Reverse proxies whose X-Forwarded-For header is believed (addresses or "
        "networks: 10.0.0.5, 10.0.0.0/24, ::1). The client address (failed attempts are counted "
        "per address) is the TCP peer for every other request. Empty: none.",
    )

    @model_validator(mode="after")
    def _safe_bind(self) -> Self:
        loopback = self.host in {"127.0.0.1", "localhost", "::1"}
        if not self.tokens and not loopback:
            raise FieldError(("tokens",), f"binding to {self.host} needs at least one token")
        names = [token.name for token in self.tokens]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise FieldError(("tokens", index, "name"), f"duplicate token name '{name}'")
        for index, network in enumerate(self.trusted_proxies):
            if network.prefixlen == 0:
                raise FieldError(
                    ("trusted_proxies", index),
                    f"{network} trusts every address, so any client could choose its own; "
                    "list the proxies' addresses",
                )
        return self
