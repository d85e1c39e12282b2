"""Load ``hub.yaml``: ``${VAR}`` substitution, relative paths, validation; every problem with
its YAML path and line (``sitewatch hub --check`` prints them and exits 2)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hub.config import FieldError, HubConfig

ENV_PATTERN = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the file."""

    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = f" (line {self.line})" if self.line is not None else ""
        return f"{self.path or '<file>'}: {self.message}{where}"


class HubConfigError(Exception):
    """A hub.yaml that cannot be used; ``problems`` lists every reason."""

    def __init__(self, source: Path, problems: Sequence[Problem]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  {problem}" for problem in self.problems)
        super().__init__(f"{source}: {len(self.problems)} problem(s)\n{lines}")


def format_loc(loc: Sequence[str | int]) -> str:
    """('grids', 1, 'sites', 0) -> 'grids[1].sites[0]'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def load_hub_config(path: Path, env: Mapping[str, str] | None = None) -> HubConfig:
    """Read and validate ``path`` (HubConfigError lists every problem)."""
    environment = os.environ if env is None else env
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise HubConfigError(path, [Problem("", f"cannot read file: {error.strerror}")]) from None
    try:
        tree = yaml.compose(text, Loader=yaml.SafeLoader)
        raw = yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        reason = getattr(error, "problem", None) or str(error)
        raise HubConfigError(path, [Problem("", f"invalid YAML: {reason}", line)]) from None
    if not isinstance(raw, dict):
        raise HubConfigError(path, [Problem("", "the file must hold a mapping (key: value)")])
    problems: list[Problem] = []
    data = _substitute(raw, (), environment, problems)
    evidence = data.get("evidence")
    if isinstance(evidence, dict) and isinstance(evidence.get("dir"), str):
        folder = Path(evidence["dir"]).expanduser()
        evidence["dir"] = str(folder if folder.is_absolute() else path.parent.resolve() / folder)
    if problems:
        raise HubConfigError(path, [_with_line(p, tree) for p in problems])
    try:
        return HubConfig.model_validate(data)
    except ValidationError as error:
        found = [_problem(item) for item in error.errors(include_input=False)]
        raise HubConfigError(path, [_with_line(p, tree) for p in found]) from None


def _substitute(
    value: Any, loc: tuple[str | int, ...], env: Mapping[str, str], problems: list[Problem]
) -> Any:
    if isinstance(value, dict):
        return {k: _substitute(v, (*loc, str(k)), env, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute(v, (*loc, i), env, problems) for i, v in enumerate(value)]
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


def _problem(item: Mapping[str, Any]) -> Problem:
    loc = tuple(item["loc"])
    cause = (item.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        return Problem(format_loc((*loc, *cause.path)), cause.message)
    message = str(item["msg"]).removeprefix("Value error, ")
    if item["type"] == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'"
    elif item["type"] == "missing":
        message = "required field is missing"
    return Problem(format_loc(loc), message)


def _with_line(problem: Problem, tree: yaml.Node | None) -> Problem:
    if tree is None or not problem.path:
        return problem
    node: yaml.Node = tree
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
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
        item: yaml.Node = node.value[part]
        return item
    return None
