"""Strict YAML configuration files, for the site (``sitewatch.config``) and the fleet hub
(``hub.config``) alike: sections that refuse unknown keys, ``${VAR}`` and ``${VAR:-default}``
substitution, and every problem reported with its YAML path and line."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict

from core.errors import SitewatchError

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"  # site, camera, zone, grid and model names
ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

Loc = tuple[str | int, ...]


class Section(BaseModel):
    """A configuration section: unknown keys are errors, values are frozen after load."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class FieldError(SitewatchError, ValueError):
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


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path or '<file>'}: {self.message}{where}"


class ConfigError(SitewatchError):
    """A configuration file that cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: Path, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


def format_loc(loc: Sequence[str | int]) -> str:
    """('cameras', 1, 'zones', 0, 'points') -> 'cameras[1].zones[0].points'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def read_mapping(path: Path) -> tuple[yaml.Node | None, dict[str, Any]]:
    """The file's YAML node tree (for line numbers) and its content, which must be a mapping
    (ConfigError otherwise: unreadable, not YAML, not a mapping)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(path, [Problem("", f"cannot read file: {error.strerror}")]) from None
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        raise ConfigError(path, [Problem("", f"invalid YAML: {reason}", line)]) from None
    if not isinstance(raw, dict):
        raise ConfigError(path, [Problem("", "the file must hold a mapping (key: value)")])
    return tree, raw


def substitute(value: Any, env: Mapping[str, str], problems: list[Problem], loc: Loc = ()) -> Any:
    """``value`` with ``${VAR}`` / ``${VAR:-default}`` replaced in every string; a variable
    neither set nor defaulted is a problem at its path."""
    if isinstance(value, dict):
        return {k: substitute(v, env, problems, (*loc, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, env, problems, (*loc, i)) for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        problems.append(Problem(format_loc(loc), f"environment variable {name} is not set"))
        return ""

    return ENV_PATTERN.sub(replace, value)


def pydantic_problem(
    item: Mapping[str, Any], unknown_key: Callable[[Loc], str] | None = None
) -> Problem:
    """One pydantic validation error in words, at its path (a ``FieldError`` adds its own
    path); ``unknown_key`` may say more about a key the section does not have."""
    loc: Loc = tuple(item["loc"])
    cause = (item.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return Problem(format_loc((*loc, *cause.path)), cause.message)
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        message = unknown_key(loc) if unknown_key is not None else f"unknown key '{loc[-1]}'"
    elif item["type"] == "missing":
        message = "required field is missing"
    return Problem(format_loc(loc), message)


def with_line(problem: Problem, tree: yaml.Node | None) -> Problem:
    """The problem with the line of the deepest YAML node on its path."""
    if tree is None or not problem.path:
        return problem
    node = tree
    for token in re.findall(r"[^.\[\]]+|\[\d+\]", problem.path):
        part: str | int = int(token[1:-1]) if token.startswith("[") else token
        child = _child(node, part)
        if child is None:
            break
        node = child
    return Problem(problem.path, problem.message, node.start_mark.line + 1)


def _child(node: yaml.Node, part: str | int) -> yaml.Node | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if key.value == part:
                found: yaml.Node = value
                return found
        return None
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item
    return None
