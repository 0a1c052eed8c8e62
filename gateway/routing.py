"""The routing table: which councils are onboarded, on which case system, at which endpoint.

Loaded from the YAML routing file of operations.md and validated at start-up and by
`gateway config check`. Every problem is a `ConfigurationError` naming the file, the line and
what is wrong. A council's `system` is a case system of `adapters.registry.OUTBOUND`. Secrets
never live in the file: they come from `<credentials_env>_<KEY>` variables, one per key of
the adapter's `credentials`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

import mappings
from adapters import registry
from adapters.base import TargetConfig
from gateway import addresses, yamlconfig
from gateway.errors import ConfigurationError
from gateway.policy import packs

SIMULATORS_PLACEHOLDER = "{simulators}"


class CouncilRoute(BaseModel):
    """One onboarded council."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(pattern=r"^[0-9]{3}$")
    name: str = Field(min_length=1)
    system: registry.SystemName
    base_url: str
    policy: str
    credentials_env: str | None = Field(default=None, pattern=r"^[A-Z][A-Z0-9_]*$")
    timeout_s: float = Field(default=10, gt=0, le=120)
    max_in_flight: int = Field(default=4, ge=1, le=64)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("base_url must be an absolute http(s) URL")
        if parts.username is not None or parts.password is not None:
            raise ValueError("base_url must not hold credentials: use credentials_env")
        refused = addresses.refused_target(parts.hostname)
        if refused is not None:
            raise ValueError(f"base_url points at {refused}, which is never a case system")
        if parts.scheme == "http" and not addresses.is_loopback(parts.hostname):
            raise ValueError(
                "base_url must use https: plain http is allowed only to this machine's "
                "loopback interface (the bundled simulators)"
            )
        return value.rstrip("/")

    @field_validator("policy")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if not mappings.path(f"policies/{value}.yaml").is_file():
            raise ValueError(f"unknown policy pack {value!r} (no mappings/policies/{value}.yaml)")
        packs.load(value)  # a broken pack stops start-up with its own file and line
        return value

    @property
    def is_loopback(self) -> bool:
        """Whether the endpoint is on this machine (the simulators)."""
        return addresses.is_loopback(urlsplit(self.base_url).hostname or "")


@dataclass(frozen=True, slots=True)
class RoutingTable:
    """The validated routing table with each council's resolved target."""

    source: str
    councils: Mapping[str, CouncilRoute]
    targets: Mapping[str, TargetConfig]

    def route(self, council: str) -> CouncilRoute | None:
        """The route of an onboarded council, or None."""
        return self.councils.get(council)


def load(
    path: Path,
    *,
    simulators_url: str = "http://127.0.0.1:8080",
    environ: Mapping[str, str] | None = None,
) -> RoutingTable:
    """Load and validate a routing file.

    Raises:
        ConfigurationError: naming the file and line of the first problem.
    """
    env = os.environ if environ is None else environ
    document = yamlconfig.read(path, "routing file")
    entries = _entries(document, path)
    councils: dict[str, CouncilRoute] = {}
    targets: dict[str, TargetConfig] = {}
    for entry in entries:
        line = entry.pop(yamlconfig.LINE, None)
        route = _validate(entry, path, line, simulators_url)
        if route.code in councils:
            raise ConfigurationError(
                f"council {route.code} is listed twice", file=str(path), line=line
            )
        councils[route.code] = route
        targets[route.code] = TargetConfig(
            council=route.code,
            system=route.system,
            base_url=route.base_url,
            credentials=_credentials(route, env, path, line),
            timeout_s=route.timeout_s,
        )
    return RoutingTable(source=str(path), councils=councils, targets=targets)


def _entries(document: Any, path: Path) -> list[dict[str, Any]]:
    if not isinstance(document, dict) or not isinstance(document.get("councils"), list):
        raise ConfigurationError(
            "expected a mapping with a 'councils' list", file=str(path), line=1
        )
    unknown = set(document) - {"councils", yamlconfig.LINE}
    if unknown:
        raise ConfigurationError(
            f"unknown top-level key(s): {', '.join(sorted(unknown))}",
            file=str(path),
            line=document.get(yamlconfig.LINE),
        )
    entries: list[dict[str, Any]] = document["councils"]
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise ConfigurationError(f"councils[{index}] must be a mapping", file=str(path))
    return entries


def _validate(
    entry: dict[str, Any], path: Path, line: int | None, simulators_url: str
) -> CouncilRoute:
    if isinstance(entry.get("base_url"), str):
        entry["base_url"] = entry["base_url"].replace(SIMULATORS_PLACEHOLDER, simulators_url)
    if isinstance(entry.get("code"), int):  # YAML reads 304 as a number; 3 digits still required
        entry["code"] = str(entry["code"]).zfill(3) if entry["code"] >= 100 else str(entry["code"])
    try:
        return CouncilRoute.model_validate(entry)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "entry"
        code = entry.get("code", "?")
        raise ConfigurationError(
            f"council {code}: {field}: {first['msg']}", file=str(path), line=line
        ) from exc


def _credentials(
    route: CouncilRoute, env: Mapping[str, str], path: Path, line: int | None
) -> dict[str, str]:
    adapter = registry.OUTBOUND[route.system]
    if route.credentials_env is None:
        if not route.is_loopback:
            raise ConfigurationError(
                f"council {route.code}: credentials_env is required for a non-loopback base_url",
                file=str(path),
                line=line,
            )
        return dict(adapter.demo_credentials)
    found: dict[str, str] = {}
    for key in adapter.credentials:
        variable = f"{route.credentials_env}_{key.upper()}"
        value = env.get(variable)
        if not value:
            raise ConfigurationError(
                f"council {route.code}: environment variable {variable} is not set",
                file=str(path),
                line=line,
            )
        found[key] = value
    return found
