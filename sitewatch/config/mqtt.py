"""MQTT connection."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Self

from pydantic import Field, SecretStr, model_validator

from core.config_files import FieldError, Section


class MqttMode(StrEnum):
    """Which broker to talk to."""

    EMBEDDED = "embedded"
    EXTERNAL = "external"


class Tls(Section):
    """TLS towards the broker."""

    ca_file: Path | None = Field(default=None, description="CA certificate (PEM).")
    cert_file: Path | None = Field(default=None, description="Client certificate (PEM).")
    key_file: Path | None = Field(default=None, description="Client key (PEM).")
    insecure: bool = Field(default=False, description="Skip hostname checks (tests only).")

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise FieldError((missing,), "cert_file and key_file go together")
        return self


class Mqtt(Section):
    """Where alerts are published."""

    mode: MqttMode = Field(
        default=MqttMode.EXTERNAL,
        description="embedded: start a local broker (demo); external: connect to host:port.",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: Tls | None = None
    username: str | None = None
    password: SecretStr | None = None
    topic_prefix: str = Field(default="sitewatch", pattern=r"^[^#+]*[^#+/]$")
    client_id: str | None = Field(default=None, description="Default: sitewatch-<site id>.")
    keepalive_s: int = Field(default=30, ge=5, le=3600)

    @model_validator(mode="after")
    def _credentials(self) -> Self:
        if self.password is not None and self.username is None:
            raise FieldError(("username",), "a password needs a username")
        return self
