"""One filter language for captured requests: the shared flags and ``--where``.

:class:`RequestFilter` holds what the command-line flags ``--tunnel --method --status
--path --since --errors --header --body-contains --where`` say; :meth:`RequestFilter.matches`
is the AND of everything given. The plain flags are cheap (no body is decoded); only
``--body-contains`` and a ``--where`` that mentions a body touch the captured bytes.

The parsers turn flag values into filter fields and raise :class:`UsageError` (exit 2)
with a one-line cause and a hint on bad input::

    >>> parse_status("404,5xx")
    (StatusRange(low=404, high=404), StatusRange(low=500, high=599))
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING, Any, NamedTuple

from ngrok_inspect.errors import UsageError

if TYPE_CHECKING:
    from ngrok_inspect.expr import Expression
    from ngrok_inspect.models import CapturedRequest

__all__ = [
    "FilterCheck",
    "RequestFilter",
    "StatusRange",
    "parse_expression",
    "parse_header_filter",
    "parse_path_pattern",
    "parse_since",
    "parse_status",
]


def parse_path_pattern(text: str) -> str:
    """A ``--path`` glob, refused when it can never match (``webhook``: paths start with /).

    >>> parse_path_pattern("/webhook*")
    '/webhook*'
    """
    if text and text[0] not in "/*?[":
        raise UsageError(
            f"--path {text!r} can never match: request paths start with '/'",
            hint=f"Use --path /{text} (or --path '*{text}*' for any path containing it)",
        )
    return text


class StatusRange(NamedTuple):
    """An inclusive range of HTTP status codes (``404`` is ``StatusRange(404, 404)``)."""

    low: int
    high: int

    def __contains__(self, code: object) -> bool:
        return isinstance(code, int) and self.low <= code <= self.high

    def __str__(self) -> str:
        if self.low == self.high:
            return str(self.low)
        if self.low % 100 == 0 and self.high == self.low + 99:
            return f"{self.low // 100}xx"
        return f"{self.low}-{self.high}"


_STATUS_HINT = "Use a code (404), a class (4xx) or a range (500-599); separate several with commas"
# patterns as strings, compiled (and cached) by ``re`` on first use: most command lines
# give no such option, and compiling them all at import is a noticeable part of start-up
_CODE = r"[1-5]\d\d"
_CLASS = r"(?i)([1-5])xx"
_RANGE = r"(\d{3})\s*-\s*(\d{3})"


def parse_status(spec: str) -> tuple[StatusRange, ...]:
    """Parse ``"404"``, ``"4xx"``, ``"500-599"`` or several of them separated by commas."""
    ranges: list[StatusRange] = []
    for raw in spec.split(","):
        part = raw.strip()
        if not part:
            continue
        if re.fullmatch(_CODE, part):
            ranges.append(StatusRange(int(part), int(part)))
            continue
        m = re.fullmatch(_CLASS, part)
        if m:
            low = int(m.group(1)) * 100
            ranges.append(StatusRange(low, low + 99))
            continue
        m = re.fullmatch(_RANGE, part)
        if m:
            low, high = int(m.group(1)), int(m.group(2))
            if 100 <= low <= high <= 599:
                ranges.append(StatusRange(low, high))
                continue
        raise UsageError(f"invalid status {part!r}", hint=_STATUS_HINT)
    if not ranges:
        raise UsageError("empty status filter", hint=_STATUS_HINT)
    return tuple(ranges)


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = r"(?i)(?:(\d+(?:\.\d+)?)\s*([smhdw]))+"
_DURATION_PART = r"(?i)(\d+(?:\.\d+)?)\s*([smhdw])"
_SINCE_HINT = (
    "Give an age such as 30s, 10m, 2h, 1d (or 1h30m), or a time such as "
    "2026-11-28T16:30:00Z (without an offset it is local time)"
)


def parse_duration(spec: str, option: str = "duration") -> float:
    """Parse an age or a length of time such as ``"30s"``, ``"10m"``, ``"2h"``,
    ``"1h30m"`` or a bare number of seconds into seconds; :class:`UsageError` on anything
    else (``option`` names the flag in the message, e.g. ``"--timeout"``)."""
    text = spec.strip()
    hint = "Give a length of time such as 30s, 10m, 2h or 1h30m (a bare number is seconds)"
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if 0 <= value < float("inf"):
            return value
        raise UsageError(f"invalid {option} {spec!r}", hint=hint)
    if not re.fullmatch(_DURATION, text.replace(" ", "")):
        raise UsageError(f"invalid {option} {spec!r}", hint=hint)
    return sum(
        float(n) * _UNITS[u.lower()] for n, u in re.findall(_DURATION_PART, text.replace(" ", ""))
    )


def parse_since(spec: str, now: datetime | None = None) -> datetime:
    """Parse ``--since``: an age (``"10m"``, ``"2h"``, ``"1d"``, ``"1h30m"``) counted back
    from ``now``, or an ISO 8601 time (``"2026-11-28T16:30:00Z"``, a date, or a time without
    an offset, taken as local time). Always returns a timezone-aware datetime."""
    text = spec.strip()
    if not text:
        raise UsageError("empty --since value", hint=_SINCE_HINT)
    if re.fullmatch(_DURATION, text.replace(" ", "")):
        base = now if now is not None else datetime.now(timezone.utc)
        if base.tzinfo is None:
            base = base.astimezone()
        try:
            return base - timedelta(seconds=parse_duration(text))
        except OverflowError:
            raise UsageError(f"--since {spec!r} is too far back", hint=_SINCE_HINT) from None
    iso = text[:-1] + "+00:00" if text[-1:] in ("Z", "z") else text
    try:
        when = datetime.fromisoformat(iso)
    except ValueError:
        raise UsageError(f"invalid --since value {spec!r}", hint=_SINCE_HINT) from None
    if when.tzinfo is None:
        when = when.astimezone()  # naive: the user's local time
    return when


_HEADER_NAME = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"


def parse_header_filter(spec: str) -> tuple[str, str]:
    """Parse ``--header 'Name: glob'`` into ``(name, glob)``.

    ``'Name'`` alone (no colon) means "the header is present" (glob ``*``). Names compare
    case-insensitively; the glob (fnmatch: ``* ? [..]``) is matched against each value.
    """
    name, sep, value = spec.partition(":")
    name = name.strip()
    if not re.fullmatch(_HEADER_NAME, name):
        raise UsageError(
            f"invalid header filter {spec.split(':', 1)[0]!r}",
            hint="Use --header 'Name: glob', e.g. --header 'X-GitHub-Event: push*'",
        )
    glob = value.strip() if sep else "*"
    return name, glob or "*"


def parse_expression(text: str) -> Expression:
    """Parse a ``--where`` expression (see :mod:`ngrok_inspect.expr`)."""
    from ngrok_inspect.expr import parse_expression as _parse

    return _parse(text)


@dataclass(frozen=True)
class FilterCheck:
    """How one request fared against a :class:`RequestFilter` (:meth:`RequestFilter.explain`):
    ``criteria`` conditions were checked, ``missed`` says those it failed, one line each."""

    criteria: int
    missed: tuple[str, ...]

    @property
    def matched(self) -> bool:
        """It passed every criterion."""
        return not self.missed

    @property
    def partial(self) -> bool:
        """It passed some criteria but not all (a near miss)."""
        return 0 < len(self.missed) < self.criteria


#: A value quoted in an explanation is cut to this many characters.
_QUOTED_CHARS = 60


def _quoted(value: str) -> str:
    """``value`` quoted for a message: control characters escaped, long ones cut."""
    from ngrok_inspect import escape

    text = escape.field(value)
    if len(text) > _QUOTED_CHARS:
        text = text[: _QUOTED_CHARS - 1] + "…"
    return f"'{text}'"


@dataclass(frozen=True)
class RequestFilter:
    """What to keep. Every field is optional; :meth:`matches` is the AND of those given.

    Within one field, several values are alternatives (``methods=("GET", "POST")`` keeps
    both); ``headers`` must all match.
    """

    tunnel: str | None = None
    methods: tuple[str, ...] = ()
    statuses: tuple[StatusRange, ...] = ()
    paths: tuple[str, ...] = ()
    since: datetime | None = None
    errors: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    body_contains: str | None = None
    where: Expression | None = field(default=None)

    def __post_init__(self) -> None:
        # Normalise so that callers from Python may pass lists and lower-case methods.
        object.__setattr__(self, "methods", tuple(m.upper() for m in self.methods))
        object.__setattr__(self, "statuses", tuple(self.statuses))
        object.__setattr__(self, "paths", tuple(self.paths))
        object.__setattr__(self, "headers", tuple(tuple(h) for h in self.headers))
        if self.since is not None and self.since.tzinfo is None:
            object.__setattr__(self, "since", self.since.astimezone())  # naive: local time

    @property
    def is_empty(self) -> bool:
        """True when the filter keeps everything."""
        return not (
            self.tunnel is not None
            or self.methods
            or self.statuses
            or self.paths
            or self.since is not None
            or self.errors
            or self.headers
            or self.body_contains is not None
            or self.where is not None
        )

    @classmethod
    def parse(
        cls,
        *,
        tunnel: str | None = None,
        method: str | Iterable[str] | None = None,
        status: str | int | Iterable[str | int] | None = None,
        path: str | Iterable[str] | None = None,
        since: str | datetime | None = None,
        errors: bool = False,
        header: str | Iterable[str] | None = None,
        body_contains: str | None = None,
        where: str | None = None,
    ) -> RequestFilter:
        """Build a filter from flag-like values (the Python face of the CLI's options)::

            RequestFilter.parse(method="POST", status="2xx", path="/webhook*",
                                header="X-GitHub-Event: push", where='req.json.ref ~ "main"')

        Each of ``method``, ``status``, ``path``, ``header`` takes one value or several;
        :class:`UsageError` (or :class:`~ngrok_inspect.expr.ExpressionError`) on bad input.
        """

        def many(v: Any) -> list[Any]:
            if v is None:
                return []
            if isinstance(v, (str, int)):
                return [v]
            return list(v)

        methods: list[str] = []
        for m in many(method):
            methods.extend(p.strip().upper() for p in str(m).split(",") if p.strip())
        statuses: list[StatusRange] = []
        for s in many(status):
            statuses.extend(parse_status(str(s)))
        return cls(
            tunnel=tunnel,
            methods=tuple(methods),
            statuses=tuple(statuses),
            paths=tuple(parse_path_pattern(str(p)) for p in many(path)),
            since=parse_since(since) if isinstance(since, str) else since,
            errors=errors,
            headers=tuple(parse_header_filter(h) for h in many(header)),
            body_contains=body_contains,
            where=parse_expression(where) if where is not None else None,
        )

    def matches(self, req: CapturedRequest) -> bool:
        """True when ``req`` passes every criterion (cheapest checks first)."""
        if self.tunnel is not None and req.tunnel_name != self.tunnel:
            return False
        if self.methods and req.method.upper() not in self.methods:
            return False
        if self.statuses:
            code = req.status_code
            if code is None or not any(code in r for r in self.statuses):
                return False
        if self.errors and not req.is_error:
            return False
        if self.since is not None and req.start < self.since:
            return False
        if self.paths and not any(fnmatchcase(req.path, p) for p in self.paths):
            return False
        for name, glob in self.headers:
            values = req.request.header_values(name)
            if not any(fnmatchcase(v, glob) for v in values):
                return False
        if self.body_contains is not None and not self._body_contains(req):
            return False
        return self.where is None or self.where.evaluate(req)

    def explain(self, req: CapturedRequest) -> FilterCheck:
        """Which criteria ``req`` misses, each said with what it had (``method was GET``,
        ``req.json.ref was "refs/heads/dev" (wanted req.json.ref == "refs/heads/main")``).

        Every flag is one criterion, every ``--header`` one, and every operand of the
        ``--where`` expression's top-level ``and`` one; ``explain(r).matched`` is
        ``matches(r)``. Secret header and body values are not repeated (export policy).
        """
        from ngrok_inspect.redaction import DEFAULT_POLICY, REDACTED

        checks: list[tuple[bool, str]] = []
        code = req.status_code
        status = str(code) if code is not None else "failed" if req.failed else "pending"
        if self.tunnel is not None:
            checks.append(
                (req.tunnel_name == self.tunnel, f"tunnel was {_quoted(req.tunnel_name)}")
            )
        if self.methods:
            checks.append((req.method.upper() in self.methods, f"method was {_quoted(req.method)}"))
        if self.statuses:
            ok = code is not None and any(code in r for r in self.statuses)
            checks.append((ok, f"status was {status}"))
        if self.errors:
            checks.append((req.is_error, f"status was {status} (not an error)"))
        if self.since is not None:
            checks.append(
                (req.start >= self.since, f"it started at {req.start.isoformat()} (before --since)")
            )
        if self.paths:
            ok = any(fnmatchcase(req.path, p) for p in self.paths)
            checks.append((ok, f"path was {_quoted(req.path)}"))
        for name, glob in self.headers:
            values = req.request.header_values(name)
            ok = any(fnmatchcase(v, glob) for v in values)
            if not values:
                said = f"there was no {_quoted(name)} header"
            elif DEFAULT_POLICY.is_secret_header(name):
                said = f"header {_quoted(name)} was {REDACTED}"
            else:
                said = f"header {_quoted(name)} was {_quoted(values[0])}"
            checks.append((ok, said))
        if self.body_contains is not None:
            checks.append(
                (self._body_contains(req), f"no body contained {_quoted(self.body_contains)}")
            )
        missed = [text for ok, text in checks if not ok]
        criteria = len(checks)
        if self.where is not None:
            criteria += len(self.where.parts)
            missed.extend(self.where.explain(req))
        return FilterCheck(criteria, tuple(missed))

    def _body_contains(self, req: CapturedRequest) -> bool:
        needle = self.body_contains or ""
        texts = [req.request.body.text]
        if req.response is not None:
            texts.append(req.response.body.text)
        return any(t is not None and needle in t for t in texts)

    def apply(self, reqs: Iterable[CapturedRequest]) -> list[CapturedRequest]:
        """The requests that match, in the order given."""
        return [r for r in reqs if self.matches(r)]

    def agent_tunnel_param(self) -> str | None:
        """What to send as ``tunnel_name`` to the agent (it matches substrings, so the
        exact comparison still happens in :meth:`matches`)."""
        return self.tunnel

    def describe(self) -> str:
        """A short human description of the criteria, for messages (no secrets: it only
        repeats what the user typed)."""
        parts: list[str] = []
        if self.tunnel is not None:
            parts.append(f"tunnel {self.tunnel!r}")
        if self.methods:
            parts.append("method " + "|".join(self.methods))
        if self.statuses:
            parts.append("status " + ",".join(str(s) for s in self.statuses))
        if self.paths:
            parts.append("path " + "|".join(self.paths))
        if self.since is not None:
            parts.append(f"since {self.since.isoformat()}")
        if self.errors:
            parts.append("errors")
        for name, glob in self.headers:
            parts.append(f"header {name}: {glob}")
        if self.body_contains is not None:
            parts.append(f"body containing {self.body_contains!r}")
        if self.where is not None:
            parts.append(f"where {self.where.source}")
        return ", ".join(parts) if parts else "any request"
