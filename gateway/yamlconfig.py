"""Reading the gateway's YAML configuration files (routing, policy packs) with line numbers.

Every mapping remembers the line it starts on under `LINE`, so a validation error can point at
the council or rule at fault; duplicate keys are refused; any problem is a
`ConfigurationError` naming the file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigurationError

LINE = "__line__"


class _LineLoader(yaml.SafeLoader):
    """A safe loader that remembers the line of every mapping."""


def _construct_mapping(loader: _LineLoader, node: yaml.MappingNode) -> dict[str, Any]:
    constructed = loader.construct_mapping(node, deep=True)
    mapping: dict[str, Any] = {str(k): v for k, v in constructed.items()}
    mapping[LINE] = node.start_mark.line + 1
    keys = [k.value for k, _ in node.value]
    duplicate = next((k for k in keys if keys.count(k) > 1), None)
    if duplicate is not None:
        raise ConfigurationError(f"duplicate key {duplicate!r}", line=node.start_mark.line + 1)
    return mapping


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def read(path: Path, what: str) -> Any:
    """The YAML document in `path` (`what` names the kind of file in errors).

    Raises:
        ConfigurationError: unreadable, not YAML, or a duplicate key; with file and line.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read {what}: {exc.strerror}", file=str(path)) from exc
    try:
        return yaml.load(text, Loader=_LineLoader)  # noqa: S506 - _LineLoader is a SafeLoader
    except ConfigurationError as exc:
        raise ConfigurationError(exc.problem, file=str(path), line=exc.line) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigurationError(
            f"not valid YAML: {getattr(exc, 'problem', exc)}",
            file=str(path),
            line=mark.line + 1 if mark else None,
        ) from exc
