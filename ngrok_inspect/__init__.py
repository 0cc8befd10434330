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
    "ConditionNotMetError": "ngrok_inspect.errors",
    "RequestFilter": "ngrok_inspect.filters",
    "parse_expression": "ngrok_inspect.filters",
    "wait_for": "ngrok_inspect.watch",
    "compute_stats": "ngrok_inspect.stats",
    "LocalAgent": "ngrok_inspect.local_agent",
}

__all__ = [
    "AgentClient",
    "AgentError",
    "AgentStatus",
    "AgentUnreachableError",
    "Body",
    "CapturedRequest",
    "ConditionNotMetError",
    "HttpMessage",
    "HttpRequest",
    "HttpResponse",
    "InspectConfig",
    "InvalidResponseError",
    "LocalAgent",
    "MetricSet",
    "NgrokInspectError",
    "NotFoundError",
    "RequestFilter",
    "RequestNotFoundError",
    "Settings",
    "Tunnel",
    "TunnelNotFoundError",
    "__version__",
    "compute_stats",
    "ngrok",
    "parse_expression",
    "resolve_settings",
    "wait_for",
]

if TYPE_CHECKING:
    from ngrok_inspect.agent import InspectConfig, ngrok
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.errors import (
        AgentError,
        AgentUnreachableError,
        ConditionNotMetError,
        InvalidResponseError,
        NgrokInspectError,
        NotFoundError,
        RequestNotFoundError,
        TunnelNotFoundError,
    )
    from ngrok_inspect.filters import RequestFilter, parse_expression
    from ngrok_inspect.local_agent import LocalAgent
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
    from ngrok_inspect.stats import compute_stats
    from ngrok_inspect.watch import wait_for


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'ngrok_inspect' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
