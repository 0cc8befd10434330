"""ngrok-inspect: look at, replay and assert on HTTP traffic captured by an ngrok agent.

The public library API is re-exported here lazily (importing the package loads nothing
but this file)::

    from ngrok_inspect import AgentClient, resolve_settings
    with AgentClient(resolve_settings().api_url) as client:
        for req in client.list_requests(limit=10):
            print(req.method, req.path, req.status_code, req.duration_ms)

    from ngrok_inspect import agent, ngrok    # the pyngrok-style API (see docs/api.md)
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "AgentClient": "ngrok_inspect.client",
    "AgentStatus": "ngrok_inspect.models",
    "Body": "ngrok_inspect.models",
    "CapturedRequest": "ngrok_inspect.models",
    "HttpMessage": "ngrok_inspect.models",
    "HttpRequest": "ngrok_inspect.models",
    "HttpResponse": "ngrok_inspect.models",
    "MetricSet": "ngrok_inspect.models",
    "Tunnel": "ngrok_inspect.models",
    "Settings": "ngrok_inspect.settings",
    "resolve_settings": "ngrok_inspect.settings",
    "InspectConfig": "ngrok_inspect.agent",
    "ngrok": "ngrok_inspect.agent",
    "NgrokInspectError": "ngrok_inspect.errors",
    "AgentUnreachableError": "ngrok_inspect.errors",
    "AgentError": "ngrok_inspect.errors",
    "NotFoundError": "ngrok_inspect.errors",
    "RequestNotFoundError": "ngrok_inspect.errors",
    "TunnelNotFoundError": "ngrok_inspect.errors",
    "InvalidResponseError": "ngrok_inspect.errors",
}

__all__ = [
    "AgentClient",
    "AgentError",
    "AgentStatus",
    "AgentUnreachableError",
    "Body",
    "CapturedRequest",
    "HttpMessage",
    "HttpRequest",
    "HttpResponse",
    "InspectConfig",
    "InvalidResponseError",
    "MetricSet",
    "NgrokInspectError",
    "NotFoundError",
    "RequestNotFoundError",
    "Settings",
    "Tunnel",
    "TunnelNotFoundError",
    "__version__",
    "ngrok",
    "resolve_settings",
]

if TYPE_CHECKING:
    from ngrok_inspect.agent import InspectConfig, ngrok
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.errors import (
        AgentError,
        AgentUnreachableError,
        InvalidResponseError,
        NgrokInspectError,
        NotFoundError,
        RequestNotFoundError,
        TunnelNotFoundError,
    )
    from ngrok_inspect.models import (
        AgentStatus,
        Body,
        CapturedRequest,
        HttpMessage,
        HttpRequest,
        HttpResponse,
        MetricSet,
        Tunnel,
    )
    from ngrok_inspect.settings import Settings, resolve_settings


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ngrok_inspect' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
