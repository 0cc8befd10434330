"""The one exception tree of ngrok-inspect, and the exit code each error maps to.

Every error a user can cause or meet derives from :class:`NgrokInspectError`. Each carries
a one-line ``message`` (the cause) and an optional one-line ``hint`` (what to do), and a
class-level ``exit_code`` from :class:`ExitCode`. The CLI's single error boundary turns
them into two lines on stderr and that exit code; library users catch them by class.

Messages never contain captured traffic (header values, bodies): they name ids, URLs,
files and HTTP status lines only.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ngrok_inspect import escape


class ExitCode(IntEnum):
    """The documented exit codes of the ``ngrok-inspect`` command."""

    OK = 0
    FAILURE = 1  # unexpected failure (a bug, or an OS error we did not foresee)
    USAGE = 2  # bad flag, bad argument, bad configuration file
    UNREACHABLE = 3  # no agent answers at the URL (refused, DNS, timeout)
    NOT_FOUND = 4  # unknown request id or tunnel name
    AGENT_ERROR = 5  # the agent answered with an error, or an answer we cannot read
    CONDITION = 6  # a condition was not met: wait timed out, alert fired, check failed
    INTERRUPTED = 130  # Ctrl-C


class NgrokInspectError(Exception):
    """Base class: a one-line cause, an optional one-line hint, an exit code."""

    exit_code: ExitCode = ExitCode.FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message

    def add_context(self, text: str) -> None:
        """Append ``; text`` to the cause line once (the client names the agent this way)."""
        if not text or self.message.endswith(f"; {text}"):
            return
        self.message = f"{self.message}; {text}"
        self.args = (self.message,)


class UsageError(NgrokInspectError):
    """A bad argument or option value (exit 2)."""

    exit_code = ExitCode.USAGE


class ConfigError(UsageError):
    """The ngrok configuration file (or a setting) is unusable (exit 2)."""

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.path = path
        self.line = line


class AgentUnreachableError(NgrokInspectError):
    """No agent answered at ``url``; ``reason`` says why (refused, DNS, timeout) (exit 3)."""

    exit_code = ExitCode.UNREACHABLE

    def __init__(
        self, url: str, reason: str, *, hint: str | None = None, message: str | None = None
    ) -> None:
        super().__init__(
            message or f"no ngrok agent at {url} ({reason})",
            hint=hint
            or (
                "Start ngrok, or run 'ngrok-inspect agent 8000' to capture locally; "
                "use --api-url for another address"
            ),
        )
        self.url = url
        self.reason = reason


class AgentTimeoutError(AgentUnreachableError):
    """The agent accepted the connection but its answer was not complete in time (exit 3).

    ``timeout`` is the deadline of the whole call; ``received`` the bytes of the answer
    that came before it (0: the agent said nothing; more: it was trickling).
    """

    def __init__(self, url: str, timeout: float, *, received: int = 0) -> None:
        if received:
            message = (
                f"the agent at {url} sent only {received} byte{'s' if received != 1 else ''} "
                f"of its answer within {timeout:g}s"
            )
        else:
            message = (
                f"the agent at {url} accepted the connection but gave no answer within {timeout:g}s"
            )
        super().__init__(
            url,
            f"{'no complete' if received else 'no'} answer within {timeout:g}s",
            message=message,
            hint="The agent may be busy or hung; raise --api-timeout or restart the agent",
        )
        self.timeout = timeout
        self.received = received


class AgentError(NgrokInspectError):
    """The agent answered with an HTTP error (exit 5).

    ``status_code``, ``error_code``, ``msg`` and ``details`` are the agent's own fields
    (``error_code`` and ``details`` may be absent).
    """

    exit_code = ExitCode.AGENT_ERROR

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: int | None = None,
        msg: str | None = None,
        details: dict[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        self.error_code = error_code
        self.msg = msg
        self.details = details or {}


class NotFoundError(AgentError):
    """An unknown request id or tunnel name (exit 4)."""

    exit_code = ExitCode.NOT_FOUND


class RequestNotFoundError(NotFoundError):
    """No captured request with this id (agent ``error_code`` 106)."""

    def __init__(self, request_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("hint", "List the ids the agent holds with 'ngrok-inspect requests list'")
        super().__init__(f"no captured request with id {request_id!r}", **kwargs)
        self.request_id = request_id


class TunnelNotFoundError(NotFoundError):
    """No tunnel with this name (agent ``error_code`` 100)."""

    def __init__(self, name: str, known: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("hint", "List the agent's tunnels with 'ngrok-inspect status'")
        text = f"no tunnel named {name!r}"
        if known is not None:  # the agent's names: shown escaped, never obeyed
            text += f" (tunnels: {', '.join(escape.field(k) for k in known) or 'none'})"
        super().__init__(text, **kwargs)
        self.name = name
        self.known = known


class AmbiguousIdError(UsageError):
    """An id prefix matches several captured requests (exit 2)."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        shown = ", ".join(escape.field(c) for c in candidates[:10])
        shown += " …" if len(candidates) > 10 else ""
        super().__init__(
            f"id prefix {prefix!r} matches {len(candidates)} requests: {shown}",
            hint="Give more characters of the id",
        )
        self.prefix = prefix
        self.candidates = candidates


class InvalidResponseError(AgentError):
    """The agent's answer is not what the API promises (non-JSON, missing keys) (exit 5)."""

    def __init__(self, url: str, reason: str, *, status_code: int | None = None) -> None:
        super().__init__(
            f"unreadable answer from {url}: {reason}",
            status_code=status_code,
            hint="Is --api-url pointing at an ngrok agent's web interface (port 4040)?",
        )
        self.url = url
        self.reason = reason


class RawUnreadableError(AgentError):
    """``--raw``/``--body`` of a message whose ``raw`` the agent sent garbled (exit 5):
    there are no exact bytes to write, and an empty output would be a lie."""

    def __init__(self, request_id: str, side: str, reason: str) -> None:
        super().__init__(
            f"the agent's raw bytes of the {side} of {request_id} are unreadable ({reason})",
            hint="'ngrok-inspect requests show' without --raw/--body shows what the agent "
            "parsed; the raw bytes themselves are lost",
        )
        self.request_id = request_id
        self.side = side


class ConditionNotMetError(NgrokInspectError):
    """A wait timed out, an alert fired, a check failed (exit 6)."""

    exit_code = ExitCode.CONDITION


class OutputError(NgrokInspectError):
    """Output could not be written (disk full, permission, existing file) (exit 1).

    Nothing half-written is left behind when this is raised.
    """

    exit_code = ExitCode.FAILURE
