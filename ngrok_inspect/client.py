"""AgentClient: the only code in ngrok-inspect that talks HTTP to an ngrok agent.

One :class:`requests.Session` per client, a timeout on every call, and every failure
turned into a typed error from :mod:`ngrok_inspect.errors` (never a raw ``requests``
exception). Error messages name URLs, ids and status lines only, never captured traffic.
"""

from __future__ import annotations

import base64
import functools
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, NoReturn, ParamSpec, TypeVar
from urllib.parse import quote

import requests

from ngrok_inspect import __version__, escape
from ngrok_inspect.errors import (
    AgentError,
    AgentTimeoutError,
    AgentUnreachableError,
    AmbiguousIdError,
    InvalidResponseError,
    NgrokInspectError,
    NotFoundError,
    RequestNotFoundError,
    TunnelNotFoundError,
    UsageError,
)
from ngrok_inspect.models import AgentStatus, CapturedRequest, Tunnel
from ngrok_inspect.settings import DEFAULT_API_URL, DEFAULT_TIMEOUT, normalize_web_addr
from ngrok_inspect.transport import call_deadline, deadline_session

__all__ = ["ALL", "AgentClient", "Listing"]

ALL = 1_000_000
"""A ``limit`` large enough to get every entry the agent holds."""

_FULL_ID = r"airt_[0-9A-Za-z]{27}"  # compiled by re on first use (start-up)
_REQUESTS = "/api/requests/http"
SEND_PATH = "/api/requests/http/replay"  # the local agent's extension (send_request)
LOCAL_AGENT_SUFFIX = "-ngrok-inspect"  # the local agent's agent_version ends so
# the local agent's listing extension (docs/local-agent.md); a real agent sends no cursor
CURSOR_HEADER = "Ngrok-Inspect-Cursor"
GONE_HEADER = "Ngrok-Inspect-Gone"
AFTER_PARAM = "ngrok_inspect_after"
_CURSOR_TEXT = re.compile(r"[0-9a-f]{16}\.[0-9]{1,18}\.[0-9]{1,18}")

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _names_agent(method: Callable[_P, _T]) -> Callable[_P, _T]:
    """Errors about the agent raised by ``method`` say which agent, and why that one."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _T:
        try:
            return method(*args, **kwargs)
        except (AgentUnreachableError, AgentError) as exc:
            client = args[0]
            assert isinstance(client, AgentClient)
            client.name_agent_in(exc)
            raise

    return wrapper


@dataclass(frozen=True)
class Listing:
    """One answer of ``GET /api/requests/http``: its entries (the agent's JSON) and, from
    the local agent only, its completion ``cursor`` (``None`` from any other agent) and
    ``gone``, the completions after the cursor asked for that it no longer holds."""

    entries: list[dict[str, Any]]
    cursor: str | None = None
    gone: int = 0


class AgentClient:
    """A client for one agent's API (``base_url`` like ``http://127.0.0.1:4040``).

    ``timeout`` (seconds) is the deadline of every call as a whole (connect, status line,
    headers and body), not of each read: an agent trickling its answer fails in time.
    ``origin`` says where the address came from (:attr:`Settings.origin
    <ngrok_inspect.settings.Settings.origin>`, e.g. ``address from --api-url``); when
    given, every error about the agent names the address and its origin, so a user
    talking to the wrong agent sees it. Use as a context manager or call :meth:`close` to
    release the connection pool.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_API_URL,
        timeout: float = DEFAULT_TIMEOUT,
        *,
        origin: str | None = None,
    ) -> None:
        self.base_url: str = normalize_web_addr(base_url)
        self.origin: str | None = origin
        if not timeout > 0:
            raise UsageError(
                f"timeout must be a positive number of seconds, not {timeout!r}",
                hint="Use e.g. --timeout 10",
            )
        self.timeout: float = float(timeout)
        self._session = deadline_session()
        # The agent is local: never route its API through an HTTP(S)_PROXY from the env.
        self._session.trust_env = False
        self._session.headers.update(
            {"Accept": "application/json", "User-Agent": f"ngrok-inspect/{__version__}"}
        )

    def __repr__(self) -> str:
        return f"AgentClient({self.base_url!r}, timeout={self.timeout:g})"

    def describe(self) -> str:
        """The agent for messages: ``http://127.0.0.1:4041 (address from --api-url)``."""
        return f"{self.base_url} ({self.origin})" if self.origin else self.base_url

    def name_agent_in(self, exc: NgrokInspectError) -> None:
        """Add the agent's address (unless the message has it) and its origin to ``exc``."""
        if not self.origin or self.origin in exc.message:  # nested calls name it once
            return
        if self.base_url in exc.message:
            exc.add_context(self.origin)
        else:
            exc.add_context(f"agent {self.base_url}, {self.origin}")

    # -- plumbing ------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        context: dict[str, str] | None = None,
    ) -> Any:
        """One API call; the parsed JSON answer (None for an empty 2xx answer)."""
        return self._exchange(method, path, params=params, body=body, context=context)[0]

    def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
        context: dict[str, str] | None = None,
    ) -> tuple[Any, Mapping[str, str]]:
        """:meth:`_call`, with the answer's headers."""
        url = self.base_url + path
        # --api-timeout is a deadline for the whole call: connecting, the status line, the
        # headers and the body together (transport.py caps every read at the time left)
        with call_deadline(self.timeout) as deadline:
            try:
                resp = self._session.request(
                    method, url, params=params, json=body, timeout=self.timeout
                )
                content = resp.content
            except requests.exceptions.RequestException as e:
                if deadline.passed and not isinstance(e, requests.exceptions.ConnectTimeout):
                    raise AgentTimeoutError(
                        self.base_url, self.timeout, received=deadline.received
                    ) from e
                raise self._transport_error(e, url) from e
        if resp.status_code >= 400:
            self._raise_for_error(resp, content, url, context or {})
        if not content.strip():
            if resp.status_code in (200, 201):
                raise InvalidResponseError(
                    url, f"empty body with HTTP {resp.status_code}", status_code=resp.status_code
                )
            return None, resp.headers
        try:
            return json.loads(content), resp.headers
        except RecursionError as e:
            raise InvalidResponseError(
                url, "JSON nested too deeply to read", status_code=resp.status_code
            ) from e
        except ValueError as e:
            ctype = _content_type(resp)
            if "json" in ctype:
                reason = f"malformed or truncated JSON ({len(content)} bytes)"
            else:
                reason = f"not JSON ({ctype or 'no Content-Type'}, {len(content)} bytes)"
            raise InvalidResponseError(url, reason, status_code=resp.status_code) from e

    def _transport_error(self, e: requests.exceptions.RequestException, url: str) -> Exception:
        """The typed error for a call that failed before its deadline."""
        if isinstance(e, requests.exceptions.ConnectTimeout):
            return AgentUnreachableError(self.base_url, "connection timed out")
        if isinstance(e, requests.exceptions.Timeout):
            return AgentTimeoutError(self.base_url, self.timeout)
        if isinstance(e, requests.exceptions.SSLError):
            return AgentUnreachableError(
                self.base_url, "TLS handshake failed", hint=_plain_http_hint(self.base_url)
            )
        if isinstance(
            e, (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError)
        ):
            return InvalidResponseError(url, "the answer was cut off")
        if isinstance(e, requests.exceptions.ConnectionError):
            return AgentUnreachableError(self.base_url, _connection_reason(e))
        return AgentUnreachableError(self.base_url, type(e).__name__)

    def _raise_for_error(
        self, resp: requests.Response, content: bytes, url: str, context: dict[str, str]
    ) -> NoReturn:
        # the reason phrase, msg, Content-Type and details are the agent's: escaped (escape.py)
        # wherever they go into a message, so an error line cannot carry terminal control
        status_line = f"{resp.status_code} {escape.field(resp.reason or '')}".strip()
        try:
            err = json.loads(content)
        except (ValueError, RecursionError):
            err = None
        if not isinstance(err, dict):
            ctype = escape.field(_content_type(resp))
            body = f"a {ctype} body" if ctype else "a body without a Content-Type"
            raise InvalidResponseError(
                url,
                f"HTTP {status_line} with {body}, not the agent's JSON error",
                status_code=resp.status_code,
            )
        msg = err.get("msg")
        msg = str(msg) if msg is not None else None
        error_code = err.get("error_code")
        error_code = error_code if isinstance(error_code, int) else None
        details = err.get("details")
        details = details if isinstance(details, dict) else {}
        fields: dict[str, Any] = {
            "status_code": resp.status_code,
            "error_code": error_code,
            "msg": msg,
            "details": details,
        }
        lmsg = (msg or "").lower()
        if error_code == 106 or "request entry not found" in lmsg:
            rid = str(details.get("id") or context.get("id") or "?")
            raise RequestNotFoundError(rid, **fields)
        if error_code == 100 or "tunnel not found" in lmsg:
            name = str(details.get("name") or context.get("tunnel") or "?")
            raise TunnelNotFoundError(name, **fields)
        text = f"the agent at {self.base_url} answered {status_line}" + (
            f": {escape.field(msg)}" if msg else ""
        )
        if error_code is not None:
            text += f" (error {error_code})"
        if resp.status_code == 404:
            raise NotFoundError(
                text,
                hint="This agent does not serve that API path; is it an ngrok agent?",
                **fields,
            )
        if resp.status_code in (502, 503):
            hint = "The agent is still starting its session; retry in a moment"
        elif resp.status_code == 400:
            hint = "The agent rejected the call; check the arguments" + _details_note(details)
        else:
            hint = "See the agent's log for details"
        raise AgentError(text, hint=hint, **fields)

    def _json_object(self, value: Any, url: str, key: str | None = None) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise InvalidResponseError(url, f"expected a JSON object, got {type(value).__name__}")
        if key is not None and not isinstance(value.get(key), list):
            raise InvalidResponseError(url, f"no {key!r} list in the answer")
        return value

    # -- endpoints -----------------------------------------------------------------------

    @_names_agent
    def root(self) -> dict[str, Any]:
        """``GET /api``: the agent's index of resources."""
        return self._json_object(self._call("GET", "/api"), self.base_url + "/api")

    @_names_agent
    def status(self) -> AgentStatus:
        """``GET /api/status`` (agents >= 3.9); a 2.x agent yields online with version None.

        A 404 on ``/api/status`` counts as a 2.x agent only when ``/api`` answers like an
        agent does; otherwise :class:`InvalidResponseError`.
        """
        url = self.base_url + "/api/status"
        try:
            data = self._call("GET", "/api/status")
        except NotFoundError:
            root = self.root()
            if "tunnels_uri" not in root and "http_requests_uri" not in root:
                raise InvalidResponseError(
                    self.base_url + "/api", "does not look like an ngrok agent's API"
                ) from None
            return AgentStatus.legacy_online()
        return AgentStatus.from_api(self._json_object(data, url))

    @_names_agent
    def tunnels(self) -> list[Tunnel]:
        """``GET /api/tunnels``: every tunnel of the agent."""
        url = self.base_url + "/api/tunnels"
        data = self._json_object(self._call("GET", "/api/tunnels"), url, "tunnels")
        return [self._tunnel(t, url) for t in data["tunnels"]]

    @_names_agent
    def require_tunnel(self, name: str) -> None:
        """:class:`TunnelNotFoundError` naming the agent's tunnels unless ``name`` is one.

        The one check behind every ``--tunnel`` filter: the agent itself would just match
        nothing (or match substrings), and an empty answer hides the typo."""
        names = [t.name for t in self.tunnels()]
        if name not in names:
            raise TunnelNotFoundError(name, known=sorted(names))

    @_names_agent
    def tunnel(self, name: str) -> Tunnel:
        """``GET /api/tunnels/{name}``; :class:`TunnelNotFoundError` when unknown."""
        if not name:
            raise UsageError(
                "empty tunnel name", hint="List the tunnels with 'ngrok-inspect status'"
            )
        path = "/api/tunnels/" + quote(name, safe="")
        data = self._call("GET", path, context={"tunnel": name})
        return self._tunnel(data, self.base_url + path)

    @_names_agent
    def start_tunnel(
        self, name: str, addr: str, proto: str = "http", *, inspect: bool = True, **extra: Any
    ) -> Tunnel:
        """``POST /api/tunnels``: start a tunnel named ``name`` forwarding to ``addr``.

        ``extra`` keys go into the tunnel definition as given (e.g. ``schemes``,
        ``host_header``); the agent rejects unknown ones with :class:`AgentError` (400).
        """
        body: dict[str, Any] = {"name": name, "addr": str(addr), "proto": proto}
        body["inspect"] = inspect
        body.update(extra)
        data = self._call("POST", "/api/tunnels", body=body, context={"tunnel": name})
        return self._tunnel(data, self.base_url + "/api/tunnels")

    @_names_agent
    def stop_tunnel(self, name: str) -> None:
        """``DELETE /api/tunnels/{name}``; :class:`TunnelNotFoundError` when unknown."""
        if not name:
            raise UsageError(
                "empty tunnel name", hint="List the tunnels with 'ngrok-inspect status'"
            )
        self._call("DELETE", "/api/tunnels/" + quote(name, safe=""), context={"tunnel": name})

    def _tunnel(self, data: Any, url: str) -> Tunnel:
        try:
            return Tunnel.from_api(data)
        except ValueError as e:
            raise InvalidResponseError(url, str(e)) from None

    @_names_agent
    def list_requests_raw(
        self, limit: int | None = None, tunnel_name: str | None = None
    ) -> list[dict[str, Any]]:
        """``GET /api/requests/http``: the agent's JSON entries, newest first.

        ``limit=None`` sends no limit (the agent's default is 100); use :data:`ALL` for
        everything held. ``tunnel_name`` is matched by the agent as a substring.
        """
        return self.list_requests_page(limit, tunnel_name).entries

    @_names_agent
    def list_requests_page(
        self, limit: int | None = None, tunnel_name: str | None = None, *, after: str | None = None
    ) -> Listing:
        """:meth:`list_requests_raw` as a :class:`Listing`, with the local agent's cursor.

        ``after`` (a cursor of an earlier listing of the local agent) asks for the entries
        that completed since, oldest completion first; send it only to an agent whose
        listing carried a cursor (another agent ignores or refuses the parameter). A cursor
        of another run of the agent is refused (400, ``details.cursor`` a fresh one).
        """
        params: dict[str, Any] = {}
        if limit is not None:
            params["limit"] = int(limit)
        if tunnel_name is not None:
            params["tunnel_name"] = tunnel_name
        if after is not None:
            params[AFTER_PARAM] = after
        url = self.base_url + _REQUESTS
        answer, headers = self._exchange("GET", _REQUESTS, params=params)
        data = self._json_object(answer, url, "requests")
        entries: list[dict[str, Any]] = data["requests"]
        for e in entries:  # callers index by id: a record without one is a bad answer
            if not isinstance(e, dict) or e.get("id") in (None, ""):
                raise InvalidResponseError(url, "a captured request without 'id'")
        cursor = headers.get(CURSOR_HEADER)
        if cursor is None or not _CURSOR_TEXT.fullmatch(cursor):
            return Listing(entries)
        gone = headers.get(GONE_HEADER, "0")
        return Listing(entries, cursor, int(gone) if gone.isdigit() and len(gone) < 19 else 0)

    @_names_agent
    def list_requests(
        self, limit: int | None = None, tunnel_name: str | None = None
    ) -> list[CapturedRequest]:
        """Captured requests as models, newest first (see :meth:`list_requests_raw`)."""
        url = self.base_url + _REQUESTS
        return [self._captured(e, url) for e in self.list_requests_raw(limit, tunnel_name)]

    @_names_agent
    def get_request_raw(self, request_id: str) -> dict[str, Any]:
        """``GET /api/requests/http/{id}``: the agent's JSON entry."""
        if not request_id:
            raise UsageError(
                "empty request id", hint="Give an id from 'ngrok-inspect requests list'"
            )
        path = f"{_REQUESTS}/{quote(request_id, safe='')}"
        data = self._call("GET", path, context={"id": request_id})
        return self._json_object(data, self.base_url + path)

    @_names_agent
    def get_request(self, request_id: str) -> CapturedRequest:
        """One captured request; :class:`RequestNotFoundError` when the agent has no such id."""
        raw = self.get_request_raw(request_id)
        return self._captured(raw, f"{self.base_url}{_REQUESTS}/{request_id}")

    def _captured(self, data: Any, url: str) -> CapturedRequest:
        try:
            return CapturedRequest.from_api(data)
        except ValueError as e:
            raise InvalidResponseError(url, str(e)) from None

    @_names_agent
    def resolve_id(self, ref: str) -> str:
        """A full id, a unique id prefix (with or without ``airt_``), or ``last`` -> full id.

        Raises :class:`AmbiguousIdError` for a prefix shared by several entries and
        :class:`RequestNotFoundError` when nothing matches.
        """
        ref = ref.strip()
        if not ref:
            raise UsageError(
                "empty request id", hint="Give an id from 'ngrok-inspect requests list'"
            )
        if re.fullmatch(_FULL_ID, ref):
            return ref
        if ref.lower() in ("last", "latest", "newest"):
            newest = self.list_requests_raw(limit=1)
            if not newest:
                raise RequestNotFoundError(
                    ref, hint="The agent holds no captured requests yet; send some traffic first"
                )
            return str(newest[0]["id"])
        ids = [str(e.get("id")) for e in self.list_requests_raw(limit=ALL)]
        if ref in ids:
            return ref
        matches = [i for i in ids if i.startswith(ref) or i.startswith("airt_" + ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise AmbiguousIdError(ref, matches)
        raise RequestNotFoundError(ref)

    @_names_agent
    def replay(self, request_id: str, tunnel_name: str | None = None) -> None:
        """``POST /api/requests/http``: replay an entry (through ``tunnel_name`` if given).

        The agent records the replay as a new entry (``remote_addr: "replayed"``).
        """
        if not request_id:
            raise UsageError(
                "empty request id", hint="Give an id from 'ngrok-inspect requests list'"
            )
        context = {"id": request_id, "tunnel": tunnel_name or ""}
        self._call(
            "POST", _REQUESTS, body={"id": request_id, "tunnel_name": tunnel_name}, context=context
        )

    @_names_agent
    def records_sends(self) -> bool:
        """Whether this agent has our extension ``POST /api/requests/http/replay`` (an
        ``ngrok-inspect agent``: its ``agent_version`` ends in ``-ngrok-inspect``)."""
        version = self.status().agent_version or ""
        return version.endswith(LOCAL_AGENT_SUFFIX)

    @_names_agent
    def send_request(self, raw: bytes, tunnel_name: str) -> CapturedRequest:
        """Our local agent's extension: send ``raw`` (a whole HTTP/1.x request) through
        ``tunnel_name`` and capture it as ``remote_addr: "replayed"``; the new capture,
        answered. A real ngrok agent has no such call (check :meth:`records_sends`)."""
        body = {"tunnel_name": tunnel_name, "raw": base64.b64encode(raw).decode("ascii")}
        data = self._call("POST", SEND_PATH, body=body, context={"tunnel": tunnel_name})
        return self._captured(self._json_object(data, self.base_url + SEND_PATH), SEND_PATH)

    @_names_agent
    def delete_requests(self) -> None:
        """``DELETE /api/requests/http``: forget every tunnel's captured requests."""
        self._call("DELETE", _REQUESTS)

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        """Release the connection pool."""
        self._session.close()

    def __enter__(self) -> AgentClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connection_reason(e: BaseException) -> str:
    """A short reason for a connection failure, found in the exception chain."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [e]
    text = ""
    while stack:
        cur = stack.pop()
        if cur is None or id(cur) in seen:
            continue
        seen.add(id(cur))
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, ConnectionResetError):
            return "connection reset"
        text += " " + str(cur)
        stack.extend([cur.__cause__, cur.__context__])
        stack.extend(a for a in getattr(cur, "args", ()) if isinstance(a, BaseException))
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    low = text.lower()
    if "refused" in low:
        return "connection refused"
    if "name or service not known" in low or "nodename nor servname" in low or "getaddrinfo" in low:
        return "host name not resolved"
    if "remotedisconnected" in low or "connection aborted" in low:
        return "connection closed without an answer"
    if "reset" in low:
        return "connection reset"
    if "unreachable" in low:
        return "network unreachable"
    return "connection failed"


def _content_type(resp: requests.Response) -> str:
    """The media type of an answer (``text/html``), or ``""`` when it names none."""
    return str(resp.headers.get("Content-Type") or "").split(";")[0].strip()


def _details_note(details: dict[str, Any]) -> str:
    """``" (details: field=value, …)"`` from the agent's error details, or ``""``.

    Values are cut short and control characters shown escaped: the agent's answer is
    untrusted.
    """
    if not details:
        return ""
    parts = []
    for key, value in list(details.items())[:5]:
        text = escape.field(f"{key}={value}")
        parts.append(text if len(text) <= 80 else text[:79] + "…")
    return " (details: " + ", ".join(parts) + ")"


def _plain_http_hint(base_url: str) -> str | None:
    """The agent's API is plain HTTP: ``https://127.0.0.1:4040`` gets ``http://…`` offered."""
    if not base_url.startswith("https://"):
        return None
    return f"The ngrok agent's API speaks plain HTTP: use --api-url http://{base_url[8:]}"
