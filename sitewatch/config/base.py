"""Shared base for every configuration section."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are frozen after load."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FieldError(ValueError):
    """A cross-field error that knows the path (relative to the model raising it) it concerns.

    Raised inside ``model_validator``s so that ``check-config`` can point at the exact field,
    e.g. ``cameras[2].name`` rather than at the whole list. ``code`` and ``params`` name the
    problem for machines (the zone editor shows its own text for them, in the user's language).
    """

    def __init__(
        self, path: Sequence[str | int], message: str, code: str = "invalid", **params: Any
    ) -> None:
        super().__init__(message)
        self.path = tuple(path)
        self.message = message
        self.code = code
        self.params = params
