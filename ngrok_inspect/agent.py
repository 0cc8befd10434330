"""The pyngrok-style function API (``pyngrok.agent``), against any running agent.

Code written for pyngrok's ``agent`` module ports by changing the import::

    from ngrok_inspect import agent, ngrok     # was: from pyngrok import agent, ngrok

Every function takes the trailing ``pyngrok_config`` parameter. It accepts an
:class:`InspectConfig` (``api_url``, ``request_timeout``, ``config_path``), a pyngrok
``PyngrokConfig`` (duck-typed: its ``request_timeout`` and ``config_path`` are honoured;
pyngrok is not needed), or None: then the default set by :func:`set_default_config` is used,
else the usual resolution (``NGROK_INSPECT_API_URL`` > ngrok config file > 127.0.0.1:4040).

Choices where pyngrok and the seed document differ (see docs/api.md):

- :func:`get_requests` returns **oldest first** (chronological), so the seed's
  ``all_requests[-5:]`` is the last five requests; it asks the agent for everything it
  holds (not the agent's default 100) and filters ``tunnel_name`` exactly (the agent
  matches substrings).
- :attr:`CapturedRequest.duration` is milliseconds as a float (the agent gives integer
  nanoseconds, kept in ``duration_ns``); ``start`` is the agent's text.
- ``req.response.get("status")`` is a :class:`StatusText`: the agent's own string
  (``"404 Not Found"``) that also compares with numbers by its code, so
  ``req.response.get("status", 0) >= 400`` works and ``json.dump(req.response)`` writes
  the agent's values unchanged.
- Failures raise the typed errors of :mod:`ngrok_inspect.errors`.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ngrok_inspect.client import ALL, AgentClient
from ngrok_inspect.errors import TunnelNotFoundError
from ngrok_inspect.settings import resolve_settings

__all__ = [
    "CapturedRequest",
    "InspectConfig",
    "NgrokAgent",
    "NgrokTunnel",
    "ResponseDict",
    "StatusText",
    "connect",
    "delete_requests",
    "disconnect",
    "get_agent_status",
    "get_default_config",
    "get_request",
    "get_requests",
    "get_tunnels",
    "ngrok",
    "replay_request",
    "set_default_config",
]


@dataclass(frozen=True)
class InspectConfig:
    """Where to find the agent; the ``pyngrok_config`` of this package.

    Any field left None falls back to the usual resolution (``NGROK_INSPECT_API_URL``,
    the ngrok config file, ``http://127.0.0.1:4040``; timeout 10 s).
    """

    api_url: str | None = None
    """Agent API address (URL, ``host:port`` or port)."""
    request_timeout: float | None = None
    """Seconds per API call."""
    config_path: str | None = None
    """ngrok config file(s) to read ``web_addr`` from (comma-separated)."""


_default_config: Any = None


def set_default_config(config: Any) -> None:
    """Use ``config`` (InspectConfig or PyngrokConfig) whenever ``pyngrok_config`` is None."""
    global _default_config
    _default_config = config


def get_default_config() -> Any:
    """The config set by :func:`set_default_config` (None when unset)."""
    return _default_config


def _client(pyngrok_config: Any) -> AgentClient:
    cfg = pyngrok_config if pyngrok_config is not None else _default_config
    if cfg is None:
        s = resolve_settings()
    elif isinstance(cfg, InspectConfig):
        s = resolve_settings(
            api_url=cfg.api_url, config=cfg.config_path, timeout=cfg.request_timeout
        )
    else:  # duck-typed pyngrok PyngrokConfig
        timeout = getattr(cfg, "request_timeout", None)
        config_path = getattr(cfg, "config_path", None)
        # pyngrok fills config_path with its default even when the file does not exist.
        if config_path is not None and not Path(config_path).expanduser().is_file():
            config_path = None
        s = resolve_settings(
            api_url=getattr(cfg, "api_url", None),
            config=config_path,
            timeout=float(timeout) if timeout is not None else None,
        )
    return AgentClient(s.api_url, timeout=s.timeout)


class StatusText(str):
    """The agent's status string (``"404 Not Found"``) that compares with numbers by code.

    ``StatusText("404 Not Found") >= 400`` is True, ``== 404`` is True, ``int()`` gives
    404; compared with strings it is an ordinary string. ``code`` holds the number.
    """

    code: int

    def __new__(cls, text: str, code: int | None = None) -> StatusText:
        """Wrap ``text``; ``code`` defaults to its leading number (0 when there is none)."""
        obj = super().__new__(cls, text)
        if code is None:
            head = text.strip().split(" ", 1)[0]
            code = int(head) if head.isdigit() else 0
        obj.code = code
        return obj

    def __int__(self) -> int:
        return self.code

    def __index__(self) -> int:
        return self.code

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            return self.code == other
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self.__eq__(other)

    __hash__ = str.__hash__

    def __lt__(self, other: object) -> bool:
        if isinstance(other, (int, float)):
            return self.code < other
        return str.__lt__(self, other)  # type: ignore[operator]

    def __le__(self, other: object) -> bool:
        if isinstance(other, (int, float)):
            return self.code <= other
        return str.__le__(self, other)  # type: ignore[operator]

    def __gt__(self, other: object) -> bool:
        if isinstance(other, (int, float)):
            return self.code > other
        return str.__gt__(self, other)  # type: ignore[operator]

    def __ge__(self, other: object) -> bool:
        if isinstance(other, (int, float)):
            return self.code >= other
        return str.__ge__(self, other)  # type: ignore[operator]


class ResponseDict(dict[str, Any]):
    """The agent's response object as a dict; reading ``status`` gives a :class:`StatusText`.

    The stored values are the agent's own, so ``json.dump`` writes them unchanged.
    """

    def _wrap(self, key: Any, value: Any) -> Any:
        if key == "status" and isinstance(value, str) and not isinstance(value, StatusText):
            code = dict.get(self, "status_code")
            return StatusText(value, code if isinstance(code, int) else None)
        return value

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        """Like ``dict.get``; ``status`` comes back as a :class:`StatusText`."""
        if key in self:
            return self[key]
        return default


class NgrokAgent:
    """The agent's status (pyngrok's ``NgrokAgent``).

    A 2.x agent has no status endpoint: it reports ``status`` ``"online"`` and
    ``agent_version`` None.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data: dict[str, Any] = dict(data)
        self.status: str = str(data.get("status") or "")
        version = data.get("agent_version")
        self.agent_version: str | None = None if version is None else str(version)
        session = data.get("session")
        self.session: dict[str, Any] = dict(session) if isinstance(session, Mapping) else {}
        self.uri: str = str(data.get("uri") or "/api/status")

    def __repr__(self) -> str:
        return f"<NgrokAgent status: {self.status}, agent_version: {self.agent_version}>"


class CapturedRequest:
    """A captured request (pyngrok's ``CapturedRequest``), built from the agent's JSON.

    Attributes: ``data`` (the JSON as served), ``id``, ``uri``, ``tunnel_name``,
    ``remote_addr``, ``start`` (the agent's text), ``duration`` (milliseconds, float),
    ``duration_ns`` (the agent's exact integer), ``request`` (dict: ``method``, ``uri``,
    ``headers``, ``proto``, ``raw``) and ``response`` (:class:`ResponseDict`, None while
    pending). :meth:`model` gives the decoded :class:`ngrok_inspect.models.CapturedRequest`.
    """

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data: dict[str, Any] = dict(data)
        self.id: str = str(data.get("id") or "")
        self.uri: str = str(data.get("uri") or "")
        self.tunnel_name: str = str(data.get("tunnel_name") or "")
        self.remote_addr: str = str(data.get("remote_addr") or "")
        self.start: str = str(data.get("start") or "")
        dur = data.get("duration")
        self.duration_ns: int = int(dur) if isinstance(dur, (int, float)) else 0
        self.duration: float = self.duration_ns / 1e6
        req = data.get("request")
        self.request: dict[str, Any] = dict(req) if isinstance(req, Mapping) else {}
        resp = data.get("response")
        self.response: ResponseDict | None = (
            ResponseDict(resp) if isinstance(resp, Mapping) else None
        )

    def model(self) -> Any:
        """The decoded view (:class:`ngrok_inspect.models.CapturedRequest`)."""
        from ngrok_inspect.models import CapturedRequest as Model

        return Model.from_api(self.data)

    def __repr__(self) -> str:
        return f'<CapturedRequest id: "{self.id}", uri: "{self.request.get("uri", "")}">'


class NgrokTunnel:
    """A tunnel of the agent (pyngrok's ``NgrokTunnel``): ``name``, ``public_url`` …"""

    def __init__(self, data: Mapping[str, Any], api_url: str) -> None:
        self.data: dict[str, Any] = dict(data)
        self.name: str = str(data.get("name") or "")
        self.proto: str = str(data.get("proto") or "")
        self.uri: str = str(data.get("uri") or "")
        self.public_url: str = str(data.get("public_url") or "")
        config = data.get("config")
        self.config: dict[str, Any] = dict(config) if isinstance(config, Mapping) else {}
        metrics = data.get("metrics")
        self.metrics: dict[str, Any] = dict(metrics) if isinstance(metrics, Mapping) else {}
        self.api_url: str = api_url

    def __repr__(self) -> str:
        addr = self.config.get("addr", "")
        return f'<NgrokTunnel: "{self.public_url}" -> "{addr}">'


def get_agent_status(pyngrok_config: Any = None) -> NgrokAgent:
    """The agent's status (``GET /api/status``; 2.x agents: online, version None)."""
    with _client(pyngrok_config) as c:
        st = c.status()
    data = dict(st.data)
    data.setdefault("status", st.status)
    data.setdefault("uri", st.uri)
    return NgrokAgent(data)


def get_requests(
    tunnel_name: str | None = None, pyngrok_config: Any = None
) -> list[CapturedRequest]:
    """Every captured request the agent holds, **oldest first**; only ``tunnel_name``'s if given."""
    with _client(pyngrok_config) as c:
        entries = c.list_requests_raw(limit=ALL, tunnel_name=tunnel_name)
    if tunnel_name is not None:
        entries = [e for e in entries if e.get("tunnel_name") == tunnel_name]
    entries.reverse()  # the agent answers newest first
    return [CapturedRequest(e) for e in entries]


def get_request(request_id: str, pyngrok_config: Any = None) -> CapturedRequest:
    """One captured request; :class:`~ngrok_inspect.errors.RequestNotFoundError` if unknown."""
    with _client(pyngrok_config) as c:
        return CapturedRequest(c.get_request_raw(request_id))


def replay_request(
    request_id: str, tunnel_name: str | None = None, pyngrok_config: Any = None
) -> None:
    """Replay a captured request through its tunnel, or through ``tunnel_name``."""
    with _client(pyngrok_config) as c:
        c.replay(request_id, tunnel_name)


def delete_requests(pyngrok_config: Any = None) -> None:
    """Forget the captured requests of every tunnel."""
    with _client(pyngrok_config) as c:
        c.delete_requests()


def connect(
    addr: str | int | None = None,
    proto: str | None = None,
    name: str | None = None,
    pyngrok_config: Any = None,
    **options: Any,
) -> NgrokTunnel:
    """Start a tunnel on the running agent (``POST /api/tunnels``), like ``ngrok.connect``.

    ``addr`` defaults to ``"80"``, ``proto`` to ``"http"``, ``name`` to
    ``"{proto}-{port}-{uuid}"`` as pyngrok does; extra ``options`` go into the tunnel
    definition. Unlike pyngrok it never starts an ngrok process: an agent must be running.
    """
    addr_text = str(addr) if addr is not None else "80"
    proto = proto or "http"
    if name is None:
        port = addr_text.rsplit(":", 1)[-1].rstrip("/")
        name = f"{proto}-{port}-{uuid.uuid4()}"
    with _client(pyngrok_config) as c:
        tunnel = c.start_tunnel(name, addr_text, proto, **options)
        return NgrokTunnel(tunnel.data, c.base_url)


def get_tunnels(pyngrok_config: Any = None) -> list[NgrokTunnel]:
    """Every tunnel of the running agent."""
    with _client(pyngrok_config) as c:
        return [NgrokTunnel(t.data, c.base_url) for t in c.tunnels()]


def disconnect(public_url: str, pyngrok_config: Any = None) -> None:
    """Stop the tunnel with this public URL (or name), like ``ngrok.disconnect``."""
    with _client(pyngrok_config) as c:
        for t in c.tunnels():
            if public_url in (t.public_url, t.name):
                c.stop_tunnel(t.name)
                return
    raise TunnelNotFoundError(public_url)


class _NgrokNamespace:
    """``ngrok.connect`` / ``ngrok.disconnect`` / ``ngrok.get_tunnels`` over the agent API."""

    connect = staticmethod(connect)
    disconnect = staticmethod(disconnect)
    get_tunnels = staticmethod(get_tunnels)


ngrok = _NgrokNamespace()
"""Stand-in for ``pyngrok.ngrok``: ``from ngrok_inspect import agent, ngrok``."""
