"""Where the agent listens: flag > environment > ngrok config file > default.

``resolve_settings()`` picks the agent API address from the first source that gives one:

1. an explicit argument (``--api-url``; the CLI also feeds ``NGROK_INSPECT_API_URL`` here),
2. the ``NGROK_INSPECT_API_URL`` environment variable,
3. the ngrok config file(s): the ones given (``--config``/``NGROK_CONFIG``, comma-separated,
   later wins), else the OS default, else the legacy ``~/.ngrok2/ngrok.yml``; ``web_addr``
   at the top level (``version: "2"``) or ``agent.web_addr`` (``version: "3"``),
4. ``http://127.0.0.1:4040``.

Nothing here talks to the network; problems raise :class:`~ngrok_inspect.errors.ConfigError`
or :class:`~ngrok_inspect.errors.UsageError` with a one-line cause and a hint.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ngrok_inspect.errors import ConfigError, UsageError

__all__ = [
    "DEFAULT_API_URL",
    "DEFAULT_TIMEOUT",
    "ENV_API_URL",
    "ENV_CONFIG",
    "ENV_TIMEOUT",
    "ENV_WEB_ADDR",
    "LOCAL_WEB_ADDR",
    "Settings",
    "default_config_paths",
    "local_web_addr",
    "normalize_web_addr",
    "read_web_addr",
    "resolve_settings",
]

DEFAULT_API_URL = "http://127.0.0.1:4040"
DEFAULT_TIMEOUT = 10.0
ENV_API_URL = "NGROK_INSPECT_API_URL"
ENV_TIMEOUT = "NGROK_INSPECT_TIMEOUT"
ENV_CONFIG = "NGROK_CONFIG"
ENV_WEB_ADDR = "NGROK_INSPECT_WEB_ADDR"
LOCAL_WEB_ADDR = "127.0.0.1:4040"

_ADDR_HINT = (
    "Use a port (4040), host:port (localhost:4040, [::1]:4040) or a URL (http://127.0.0.1:4040)"
)


@dataclass(frozen=True)
class Settings:
    """The resolved agent address and call timeout, and where they came from."""

    api_url: str
    """Normalised base URL, no trailing slash, no ``/api`` suffix."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds per API call."""
    source: str = "default"
    """Where ``api_url`` came from: ``argument``, ``env``, ``config`` or ``default``."""
    config_paths: tuple[Path, ...] = ()
    """The ngrok config file(s) consulted (may be empty)."""
    config_file: Path | None = None
    """The config file whose ``web_addr`` gave ``api_url`` (source ``config``)."""

    @property
    def origin(self) -> str:
        """Where the address came from, for messages: ``address from --api-url``,
        ``address from NGROK_INSPECT_API_URL``, ``address from web_addr in FILE`` or
        ``the default address``."""
        if self.source == "argument":
            return "address from --api-url"
        if self.source == "env":
            return f"address from {ENV_API_URL}"
        if self.source == "config" and self.config_file is not None:
            return f"address from web_addr in {self.config_file}"
        return "the default address"


def normalize_web_addr(value: str | int) -> str:
    """Turn any accepted agent address form into ``http://host:port``.

    ``4040`` and ``:4040`` mean 127.0.0.1; a wildcard bind (``0.0.0.0``, ``[::]``) is
    reached on loopback; ``[::1]:4040`` stays IPv6; URLs keep their scheme and lose a
    trailing ``/`` or ``/api``. Raises :class:`UsageError` on anything else.
    """
    if isinstance(value, bool):
        raise UsageError(f"invalid agent address {value!r}", hint=_ADDR_HINT)
    text = str(value).strip()
    if not text:
        raise UsageError("empty agent address", hint=_ADDR_HINT)
    scheme = "http"
    m = re.fullmatch(r"(?i)(https?)://(.*)", text)
    if m:
        scheme = m.group(1).lower()
        text = m.group(2)
        rest_at = text.find("/")
        path = text[rest_at:] if rest_at >= 0 else ""
        text = text[:rest_at] if rest_at >= 0 else text
        path = path.rstrip("/")
        if path not in ("", "/api"):
            raise UsageError(
                f"invalid agent address {str(value)!r}: unexpected path {path!r}",
                hint="Give the agent's base URL, e.g. http://127.0.0.1:4040",
            )
    elif "://" in text:
        raise UsageError(f"invalid agent address {text!r}: only http and https", hint=_ADDR_HINT)
    host, port = _split_host_port(text, str(value))
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host in ("[::]", "[0:0:0:0:0:0:0:0]"):
        host = "[::1]"
    if port is None:
        if m:  # a URL without a port: the scheme's default port
            return f"{scheme}://{host}"
        port = 4040
    return f"{scheme}://{host}:{port}"


def _split_host_port(text: str, original: str) -> tuple[str, int | None]:
    if text.isdigit():
        return "", _port(text, original)
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"invalid agent address {original!r}: unclosed '['", hint=_ADDR_HINT)
        host, rest = text[: end + 1], text[end + 1 :]
        if not rest:
            return host, None
        if not rest.startswith(":"):
            raise UsageError(f"invalid agent address {original!r}", hint=_ADDR_HINT)
        return host, _port(rest[1:], original)
    if text.count(":") > 1:  # bare IPv6 without brackets
        raise UsageError(
            f"invalid agent address {original!r}: put an IPv6 address in brackets",
            hint="e.g. [::1]:4040",
        )
    host, sep, port_text = text.partition(":")
    if not re.fullmatch(r"[A-Za-z0-9.\-_]*", host):
        raise UsageError(f"invalid agent address {original!r}: bad host", hint=_ADDR_HINT)
    return host, _port(port_text, original) if sep else None


def _port(text: str, original: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"invalid agent address {original!r}: bad port {text!r}", hint=_ADDR_HINT)
    return int(text)


def local_web_addr(env: Mapping[str, str] | None = None) -> str:
    """Where ``agent`` and ``demo --keep`` put their API first (the next ports are tried
    when it is taken): ``NGROK_INSPECT_WEB_ADDR``, else ``127.0.0.1:4040`` as ngrok does."""
    env = os.environ if env is None else env
    return env.get(ENV_WEB_ADDR, "").strip() or LOCAL_WEB_ADDR


def default_config_paths(
    env: Mapping[str, str] | None = None,
    platform: str | None = None,
    home: Path | None = None,
) -> list[Path]:
    """The ngrok config files looked for by default, in order: the OS default, the legacy one.

    Linux and others: ``$XDG_CONFIG_HOME/ngrok/ngrok.yml`` (``~/.config`` when unset);
    macOS: ``~/Library/Application Support/ngrok/ngrok.yml``; Windows:
    ``%LOCALAPPDATA%\\ngrok\\ngrok.yml``; then legacy ``~/.ngrok2/ngrok.yml`` everywhere.
    """
    env = os.environ if env is None else env
    platform = sys.platform if platform is None else platform
    if home is None:
        h = env.get("USERPROFILE") if platform == "win32" else None
        h = h or env.get("HOME")
        home = Path(h) if h else Path.home()
    if platform == "darwin":
        primary = home / "Library" / "Application Support" / "ngrok" / "ngrok.yml"
    elif platform == "win32":
        local = env.get("LOCALAPPDATA")
        base = Path(local) if local else home / "AppData" / "Local"
        primary = base / "ngrok" / "ngrok.yml"
    else:
        xdg = env.get("XDG_CONFIG_HOME")
        base = Path(xdg) if xdg and Path(xdg).is_absolute() else home / ".config"
        primary = base / "ngrok" / "ngrok.yml"
    return [primary, home / ".ngrok2" / "ngrok.yml"]


def read_config_file(path: Path) -> Mapping[str, Any] | None:
    """One ngrok config file as a mapping (None when the file is empty).

    Raises :class:`ConfigError` (with ``path`` and ``line``) for a missing or unreadable
    file, a YAML syntax error, or a document that is not a mapping.
    """
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"ngrok config file {path} does not exist",
            hint="Check --config / NGROK_CONFIG, or pass --api-url",
            path=str(path),
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else type(e).__name__
        raise ConfigError(
            f"cannot read ngrok config file {path} ({reason})",
            hint="Check the file's permissions, or pass --api-url",
            path=str(path),
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(e, "problem", None) or "invalid YAML"
        context = getattr(e, "context", None)
        context_mark = getattr(e, "context_mark", None)
        if context and context_mark is not None and context_mark.line + 1 != line:
            problem += f" ({context} started at line {context_mark.line + 1})"
        where = f"{path}:{line}" if line else str(path)
        raise ConfigError(
            f"YAML syntax error in ngrok config file {where}: {problem}",
            hint="Fix the file (ngrok config check), or pass --api-url to skip it",
            path=str(path),
            line=line,
        ) from None
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise ConfigError(
            f"ngrok config file {path} is not a YAML mapping",
            hint="Fix the file (ngrok config check), or pass --api-url to skip it",
            path=str(path),
        )
    return doc


def read_web_addr(path: Path) -> Any:
    """The ``web_addr`` one ngrok config file sets (None when absent).

    Returns the raw value (``str``, ``int`` or ``False``) or None. Raises
    :class:`ConfigError` (with ``path`` and ``line``) for unreadable files and YAML errors.
    """
    doc = read_config_file(path)
    if doc is None:
        return None
    version = str(doc.get("version", "")).strip().strip("'\"")
    agent = doc.get("agent")
    v3_value = agent.get("web_addr") if isinstance(agent, Mapping) else None
    if version == "3":
        return v3_value
    if version == "2":
        return doc.get("web_addr")
    return v3_value if v3_value is not None else doc.get("web_addr")


def _split_config_arg(config: str | Path | Sequence[str | Path]) -> list[Path]:
    if isinstance(config, Path):
        return [config]
    if isinstance(config, str):
        return [Path(p.strip()).expanduser() for p in config.split(",") if p.strip()]
    return [Path(p).expanduser() for p in config]


def resolve_settings(
    api_url: str | None = None,
    config: str | Path | Sequence[str | Path] | None = None,
    timeout: float | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the agent address: argument > ``NGROK_INSPECT_API_URL`` > config > default.

    ``config`` names the ngrok config file(s) (comma-separated string or a list; later
    files win); when None, ``NGROK_CONFIG`` then the OS default paths are used. The config
    is not read at all when an address is given. ``timeout`` falls back to
    ``NGROK_INSPECT_TIMEOUT``, then 10 s.
    """
    env = os.environ if env is None else env
    to = _resolve_timeout(timeout, env)
    if api_url is not None and str(api_url).strip():
        return Settings(normalize_web_addr(api_url), to, "argument")
    env_url = env.get(ENV_API_URL, "").strip()
    if env_url:
        try:
            url = normalize_web_addr(env_url)
        except UsageError as e:
            raise UsageError(f"{ENV_API_URL}: {e.message}", hint=e.hint) from None
        return Settings(url, to, "env")

    if config is None and env.get(ENV_CONFIG, "").strip():
        config = env[ENV_CONFIG]
    if config is not None:
        paths = _split_config_arg(config)
    else:
        primary, legacy = default_config_paths(env)
        found = [p for p in (primary, legacy) if p.is_file()]
        paths = found[:1]
    value: Any = None
    origin: Path | None = None
    for path in paths:
        v = read_web_addr(path)
        if v is not None:
            value, origin = v, path
    if origin is not None:
        if value is False:
            raise ConfigError(
                f"the agent API is turned off in {origin} (web_addr: false)",
                hint="Set web_addr in that file and restart ngrok, or pass --api-url",
                path=str(origin),
            )
        try:
            url = normalize_web_addr(value)
        except UsageError as e:
            raise ConfigError(
                f"{origin}: web_addr {value!r} is not an address ({e.message})",
                hint="Fix web_addr in that file, or pass --api-url",
                path=str(origin),
            ) from None
        return Settings(url, to, "config", tuple(paths), origin)
    return Settings(DEFAULT_API_URL, to, "default", tuple(paths))


def _resolve_timeout(timeout: float | None, env: Mapping[str, str]) -> float:
    if timeout is None:
        text = env.get(ENV_TIMEOUT, "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(text)
        except ValueError:
            raise UsageError(
                f"{ENV_TIMEOUT}={text!r} is not a number of seconds",
                hint=f"Set {ENV_TIMEOUT} to e.g. 10, or unset it",
            ) from None
    if not timeout > 0 or timeout != timeout or timeout == float("inf"):
        raise UsageError(
            f"timeout must be a positive number of seconds, not {timeout!r}",
            hint="Use e.g. --timeout 10",
        )
    return float(timeout)
