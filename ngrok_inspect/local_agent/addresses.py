"""Addresses the agent is given: listen ``HOST:PORT`` values and upstreams."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from ngrok_inspect.errors import UsageError


def parse_hostport(value: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``"127.0.0.1:0"``, ``"[::1]:4040"``, ``"4040"``, ``":4040"`` -> ``(host, port)``."""
    text = str(value).strip()
    if "://" in text:
        parts = urlsplit(text)
        text = parts.netloc
    if text.isdigit():
        host, port_text = default_host, text
    elif text.startswith("["):
        end = text.find("]")
        host, port_text = text[1:end], text[end + 2 :]
    else:
        host, _, port_text = text.rpartition(":")
        host = host or default_host
    try:
        port = int(port_text)
    except ValueError:
        raise UsageError(
            f"invalid address {value!r}", hint="Give HOST:PORT or a port, e.g. 127.0.0.1:4040"
        ) from None
    if not 0 <= port <= 65535:
        raise UsageError(f"invalid port in {value!r}", hint="Ports run from 0 to 65535")
    return host, port


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def normalize_upstream(value: str | int) -> tuple[str, str]:
    """An upstream given as port, ``host:port`` or URL -> ``(connect URL, display addr)``.

    ``8000`` shows as ``http://localhost:8000`` (as ngrok shows it) and is reached at
    ``http://127.0.0.1:8000``.
    """
    text = str(value).strip()
    if text.isdigit():
        text = f"localhost:{text}"
    if "://" not in text:
        text = "http://" + text
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(
            f"invalid upstream {value!r}",
            hint="Give a port (8000), host:port (localhost:3000) or URL (http://127.0.0.1:8000)",
        )
    try:
        port = parts.port
    except ValueError:
        raise UsageError(
            f"invalid port in upstream {value!r}", hint="Ports run from 1 to 65535"
        ) from None
    if parts.path not in ("", "/") or parts.query:
        raise UsageError(
            f"upstream {value!r} has a path or query",
            hint="Give only scheme, host and port; request paths are kept as sent",
        )
    display = f"{parts.scheme}://{parts.netloc}"
    host = parts.hostname
    connect_host = "127.0.0.1" if host == "localhost" else host
    if ":" in connect_host:
        connect_host = f"[{connect_host}]"
    connect = f"{parts.scheme}://{connect_host}" + (f":{port}" if port else "")
    return connect, display
