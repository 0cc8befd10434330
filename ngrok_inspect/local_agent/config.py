"""Tunnels from ngrok configuration files, and size/duration parsing for the agent.

``version: "2"`` files define ``tunnels:`` (``proto``, ``addr``, ``inspect``);
``version: "3"`` files define ``endpoints:`` (``upstream.url``) and may keep a ``tunnels:``
section. Only HTTP tunnels are started; the others are reported as skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ngrok_inspect.errors import ConfigError
from ngrok_inspect.local_agent.tunnel import TunnelSpec
from ngrok_inspect.settings import read_config_file
from ngrok_inspect.sizes import parse_size as parse_size  # re-exported: its old home


@dataclass
class AgentConfig:
    """What the config files ask for: tunnels, and agent settings when given."""

    tunnels: list[TunnelSpec] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "name (tcp)" for non-HTTP tunnels
    web_addr: str | None = None
    inspect_db_size: int | None = None


def load_agent_config(paths: list[Path]) -> AgentConfig:
    """Read ngrok config files (later files win, tunnels merged by name)."""
    out = AgentConfig()
    by_name: dict[str, TunnelSpec] = {}
    for path in paths:
        data = _read(path)
        version = str(data.get("version", "2")).strip()
        agent = data.get("agent") if version == "3" else data
        if isinstance(agent, dict):
            if agent.get("web_addr") not in (None, False):
                out.web_addr = str(agent["web_addr"])
            if agent.get("inspect_db_size") is not None:
                out.inspect_db_size = parse_size(agent["inspect_db_size"])
        tunnels = data.get("tunnels") or {}
        if not isinstance(tunnels, dict):
            raise ConfigError(
                f"{path}: 'tunnels' must be a mapping of names to definitions",
                hint="See https://ngrok.com/docs/agent/config/v2/#tunnel-configurations",
                path=str(path),
            )
        for name, spec in tunnels.items():
            _add_tunnel(out, by_name, path, str(name), spec)
        endpoints = data.get("endpoints") or []
        if not isinstance(endpoints, list):
            raise ConfigError(
                f"{path}: 'endpoints' must be a list",
                hint="See https://ngrok.com/docs/agent/config/v3/#endpoint-configuration",
                path=str(path),
            )
        for i, ep in enumerate(endpoints):
            _add_endpoint(out, by_name, path, i, ep)
    out.tunnels = list(by_name.values())
    return out


def _read(path: Path) -> Mapping[str, Any]:
    """The file as a mapping ({} when empty); the same reader and errors as discovery."""
    return read_config_file(path) or {}


def _inspect(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "no", "off", "0")
    return value is None or bool(value)


def _add_tunnel(
    out: AgentConfig, by_name: dict[str, TunnelSpec], path: Path, name: str, spec: Any
) -> None:
    if not isinstance(spec, dict):
        raise ConfigError(
            f"{path}: tunnel {name!r} must be a mapping", hint="Give proto and addr", path=str(path)
        )
    proto = str(spec.get("proto", "http")).lower()
    if proto not in ("http", "https"):
        out.skipped.append(f"{name} ({proto})")
        return
    addr = spec.get("addr")
    if addr is None:
        raise ConfigError(
            f"{path}: tunnel {name!r} has no addr",
            hint="Add 'addr: 8000' (a port, host:port or URL)",
            path=str(path),
        )
    by_name[name] = TunnelSpec(name=name, addr=str(addr), inspect=_inspect(spec.get("inspect")))


def _add_endpoint(
    out: AgentConfig, by_name: dict[str, TunnelSpec], path: Path, index: int, ep: Any
) -> None:
    if not isinstance(ep, dict):
        raise ConfigError(
            f"{path}: endpoint #{index + 1} must be a mapping",
            hint="Give upstream.url",
            path=str(path),
        )
    name = str(ep.get("name") or f"endpoint-{index + 1}")
    url = str(ep.get("url") or "")
    scheme = url.split("://", 1)[0].lower() if "://" in url else "https"
    if scheme not in ("http", "https"):
        out.skipped.append(f"{name} ({scheme})")
        return
    upstream = ep.get("upstream")
    target = upstream.get("url") if isinstance(upstream, dict) else None
    if target is None:
        raise ConfigError(
            f"{path}: endpoint {name!r} has no upstream.url",
            hint="Add 'upstream: {url: 8000}'",
            path=str(path),
        )
    by_name[name] = TunnelSpec(name=name, addr=str(target), inspect=_inspect(ep.get("inspect")))
