"""Export captured requests: a registry of formats, one module per format.

Public API (docs/internals.md)::

    from ngrok_inspect.export import FORMATS, export, get_format
    result = export(reqs, "har", redact=True, policy=RedactionPolicy.with_names(["x-id"]))
    result.text, result.redacted, result.undecodable

Redaction (:mod:`ngrok_inspect.redaction`) runs first, on the agent's objects, and every
format is built from the redacted copies. ``json``, ``ndjson`` and ``raw`` keep the agent's
order (newest first); ``har`` and ``curl`` are chronological (oldest first).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ngrok_inspect.errors import UsageError
from ngrok_inspect.export.curl import render_curl
from ngrok_inspect.export.har import render_har_text
from ngrok_inspect.export.records import render_json, render_ndjson, render_raw
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.redaction import DEFAULT_POLICY, RedactionPolicy, redact_requests

__all__ = [
    "FORMATS",
    "FORMAT_SPECS",
    "ExportFormat",
    "ExportResult",
    "export",
    "get_format",
    "render_export",
]

Renderer = Callable[..., str]


@dataclass(frozen=True)
class ExportFormat:
    """One format: its name, a one-line description, its renderer, whether it needs the
    tunnels' public URLs (HAR and curl build absolute URLs)."""

    name: str
    description: str
    render: Renderer
    needs_public_urls: bool = False


_REGISTRY: dict[str, ExportFormat] = {
    f.name: f
    for f in (
        ExportFormat("json", "JSON records (as requests list --json)", render_json),
        ExportFormat("ndjson", "one JSON record per line", render_ndjson),
        ExportFormat("har", "HAR 1.2", render_har_text, needs_public_urls=True),
        ExportFormat("curl", "a shell script, one curl command per request", render_curl, True),
        ExportFormat(
            "raw", "the agent's objects as served (with the base64 raw bytes)", render_raw
        ),
    )
}

FORMAT_SPECS: tuple[ExportFormat, ...] = tuple(_REGISTRY.values())
"""The formats, in ``--format`` help order."""

FORMATS: tuple[str, ...] = tuple(_REGISTRY)
"""The export format names, ``json`` first (the default)."""


def get_format(name: str) -> ExportFormat:
    """The format called ``name`` (case-insensitive); UsageError (exit 2) otherwise."""
    fmt = _REGISTRY.get(name.strip().lower())
    if fmt is None:
        raise UsageError(
            f"unknown export format {name!r}", hint=f"Use one of: {', '.join(FORMATS)}"
        )
    return fmt


@dataclass
class ExportResult:
    """The export text, how many values were redacted, and the ids of requests whose
    ``raw`` bytes were not valid base64 (exported with ``raw: null`` / body unknown)."""

    text: str
    redacted: int = 0
    undecodable: list[str] = field(default_factory=list)


def export(
    reqs: Iterable[CapturedRequest],
    fmt: str,
    *,
    redact: bool = True,
    policy: RedactionPolicy = DEFAULT_POLICY,
    public_urls: Mapping[str, str] | None = None,
) -> ExportResult:
    """Export ``reqs`` in format ``fmt``; redacted by ``policy`` unless ``redact`` is False.

    ``public_urls`` maps tunnel names to public URLs (the origin of HAR/curl URLs; the Host
    header is used for tunnels not in it). UsageError for an unknown format.
    """
    spec = get_format(fmt)
    items = list(reqs)
    if redact:
        done = redact_requests(items, policy)
        text = spec.render(done.requests, public_urls=public_urls)
        return ExportResult(text, done.count, done.undecodable)
    from ngrok_inspect.export.common import raw_undecodable

    bad = [
        r.id
        for r in items
        if raw_undecodable(r.request) or (r.response is not None and raw_undecodable(r.response))
    ]
    return ExportResult(spec.render(items, public_urls=public_urls), 0, bad)


def render_export(
    reqs: list[CapturedRequest],
    fmt: str,
    *,
    redact: bool = True,
    policy: RedactionPolicy = DEFAULT_POLICY,
    public_urls: Mapping[str, str] | None = None,
) -> str:
    """:func:`export`'s text only."""
    return export(reqs, fmt, redact=redact, policy=policy, public_urls=public_urls).text
