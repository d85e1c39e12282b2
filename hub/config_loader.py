"""Load ``hub.yaml``: ``${VAR}`` substitution, relative paths, validation; every problem with
its YAML path and line (``sitewatch hub --check`` prints them and exits 2)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError

from core.config_files import (
    ConfigError,
    Problem,
    pydantic_problem,
    read_mapping,
    substitute,
    with_line,
)
from hub.config import HubConfig


def load_hub_config(path: Path, env: Mapping[str, str] | None = None) -> HubConfig:
    """Read and validate ``path`` (ConfigError lists every problem)."""
    environment = os.environ if env is None else env
    tree, raw = read_mapping(path)
    problems: list[Problem] = []
    data = substitute(raw, environment, problems)
    evidence = data.get("evidence")
    if isinstance(evidence, dict) and isinstance(evidence.get("dir"), str):
        folder = Path(evidence["dir"]).expanduser()
        evidence["dir"] = str(folder if folder.is_absolute() else path.parent.resolve() / folder)
    if problems:
        raise ConfigError(path, [with_line(p, tree) for p in problems])
    try:
        return HubConfig.model_validate(data)
    except ValidationError as error:
        found = [pydantic_problem(item) for item in error.errors(include_input=False)]
        raise ConfigError(path, [with_line(p, tree) for p in found]) from None
