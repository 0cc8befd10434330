"""The edited-replay path of ``ngrok-inspect replay`` (options -> Edits -> send)."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ngrok_inspect import escape
from ngrok_inspect.cli.app import state
from ngrok_inspect.errors import UsageError

if TYPE_CHECKING:
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.filters import RequestFilter
    from ngrok_inspect.models import CapturedRequest
    from ngrok_inspect.replay import OutgoingRequest, SentResult
    from ngrok_inspect.replay.edits import Edits


@dataclass
class EditArgs:
    method: str | None = None
    path: str | None = None
    query: list[str] = field(default_factory=list)
    query_del: list[str] = field(default_factory=list)
    header: list[str] = field(default_factory=list)
    del_header: list[str] = field(default_factory=list)
    body: str | None = None
    json_set: list[str] = field(default_factory=list)
    form_set: list[str] = field(default_factory=list)
    edit: bool = False
    to: str | None = None
    dry_run: bool = False
    resign: str | None = None
    secret: str | None = None
    secret_env: str | None = None
    secret_file: str | None = None
    show_response: bool = False
    format: str = "http"
    sign_url: str | None = None

    @property
    def active(self) -> bool:
        """True when anything asks for the edited path (else: the agent's own replay)."""
        return (
            any((self.query, self.query_del, self.header, self.del_header))
            or any((self.json_set, self.form_set, self.edit, self.dry_run))
            or any(x is not None for x in (self.method, self.path, self.body, self.to))
            or self.resign is not None
        )

    def edits(self) -> Edits:
        from ngrok_inspect.replay.edits import Edits, parse_header, parse_pair

        json_pairs = []
        for item in self.json_set:
            key, eq, value = item.partition("=")
            if not eq or not key:
                raise UsageError(
                    f"--json-set expects PATH=JSON, got {item[:40]!r}",
                    hint="e.g. --json-set 'data.amount=1300'",
                )
            json_pairs.append((key, value))
        return Edits(
            method=self.method,
            path=self.path,
            query_set=[parse_pair(q, "--query") for q in self.query],
            query_del=list(self.query_del),
            headers_set=[parse_header(h) for h in self.header],
            headers_del=list(self.del_header),
            body=None if self.body is None else read_body(self.body),
            json_set=json_pairs,
            form_set=[parse_pair(f, "--form-set") for f in self.form_set],
        )


def read_body(spec: str) -> bytes:
    """``TEXT``, ``@file`` or ``-`` (stdin)."""
    if spec == "-":
        return sys.stdin.buffer.read()
    if spec.startswith("@"):
        try:
            return Path(spec[1:]).read_bytes()
        except OSError as e:
            raise UsageError(
                f"cannot read --body file {spec[1:]} ({e.strerror or e})", hint="Check the path"
            ) from None
    return spec.encode("utf-8")


def _ask(question: str) -> bool:
    from ngrok_inspect.cli.output import Output

    if not sys.stdin.isatty():
        return False
    answer = Output.ask(question + " [Y/n] ")
    return answer is None or answer.lower() in ("", "y", "yes")


def _secret(args: EditArgs) -> str | None:
    from ngrok_inspect.webhooks.secrets import read_secret

    given = any(x is not None for x in (args.secret, args.secret_env, args.secret_file))
    if args.resign is None and not given:
        return None
    if args.resign is None:
        raise UsageError("--secret is for --resign", hint="Add --resign PROVIDER, or drop --secret")
    secret = read_secret(args.secret, args.secret_env, args.secret_file)
    from ngrok_inspect.webhooks import get_provider

    get_provider(args.resign).check_secret(secret)
    return secret


def _build(
    original: CapturedRequest, args: EditArgs, edits: Edits, secret: str | None
) -> OutgoingRequest:
    from ngrok_inspect.replay import prepare

    out = prepare(original, edits, resign=args.resign, secret=secret, url=args.sign_url)
    if args.edit:
        from ngrok_inspect.replay.editor import edit_request

        out = edit_request(out, ask=_ask)
        if args.resign is not None and secret is not None:
            out = _resign_again(original, out, args.resign, secret, args.sign_url)
    if args.resign is None:
        _warn_signature(original, out)
    return out


def _send_one(
    client: AgentClient,
    original: CapturedRequest,
    out: OutgoingRequest,
    route: Route,
    *,
    wait: bool,
    timeout: float,
) -> tuple[str | None, SentResult]:
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.replay import send
    from ngrok_inspect.replay.sending import send_captured

    if route.records is not None:  # our local agent sends it and captures it itself
        new, result = send_captured(client, out, route.records, route.base)
        if result.dropped_encoding:
            Output.notice(
                "Content-Encoding {} cannot be re-encoded: it was dropped and the body sent as is",
                result.dropped_encoding,
            )
        return new.id, result
    captured = route.captured
    known: set[str] = set()
    if captured and wait:
        known = {r["id"] for r in client.list_requests_raw(limit=50) if "id" in r}
    result = send(out, route.base, timeout=max(timeout, 1.0))
    if result.dropped_encoding:
        Output.notice(
            "Content-Encoding {} cannot be re-encoded: it was dropped and the body sent as is",
            result.dropped_encoding,
        )
    if not (captured and wait):
        return None, result
    from ngrok_inspect.cli.replay_find import find_replay

    new = find_replay(client, original, known, timeout, method=out.method, uri=out.target)
    return new.id, result


def _original(client: AgentClient, request_id: str, db: str | None) -> CapturedRequest:
    """The capture to replay: from the archive ``db`` when given, else from the agent."""
    if db is None:
        return client.get_request(client.resolve_id(request_id))
    from ngrok_inspect.archive import ArchiveSource

    with ArchiveSource(db) as source:
        return source.get_request(source.resolve_id(request_id))


def run_edited(
    request_id: str,
    args: EditArgs,
    *,
    tunnel: str | None,
    no_wait: bool,
    as_json: bool,
    db: str | None = None,
) -> None:
    from ngrok_inspect.cli.output import Output

    emit = Output.open(json=as_json)  # `out` is the request to send, here
    secret = _secret(args)
    edits = args.edits()
    st = state()
    with st.client() as client:  # with --db and --to the agent is never asked
        original = _original(client, request_id, db)
        route = _route(client, original, tunnel, args.to, dry_run=args.dry_run)
        base = route.base
        out = _build(original, args, edits, secret)
        if args.dry_run:
            from ngrok_inspect.replay.dryrun import render
            from ngrok_inspect.replay.sending import for_destination

            final, url = for_destination(out, base)
            shown = render(final, url, "json" if as_json else args.format)
            if isinstance(shown, dict):
                emit.document(shown)
            elif args.format == "curl":
                emit.exact(shown)  # a script: its quoting is the contract
            else:
                emit.text(shown)
            if final.wire()[2]:
                emit.notice(
                    "Content-Encoding {} cannot be re-encoded: it is dropped and the body "
                    "sent as is",
                    final.wire()[2],
                )
            return
        new_id, result = _send_one(
            client, original, out, route, wait=not no_wait, timeout=st.settings.timeout
        )
    if as_json:
        emit.document({"id": new_id, "replay_of": original.id, **result.to_dict()})
        return
    _print_result(emit, new_id, result, show_response=args.show_response)


def _print_result(
    emit: Output, new_id: str | None, result: SentResult, *, show_response: bool
) -> None:
    from ngrok_inspect.render.text import duration_text

    emit.row(new_id or "-", result.status, f"{duration_text(result.duration_ms)} ms")
    if show_response:
        lines = [f"HTTP/1.1 {result.status} {escape.field(result.reason)}"]
        lines += [f"{escape.field(k)}: {escape.field(v)}" for k, v in result.headers]
        emit.text("\n".join(lines) + "\n\n")
        emit.shown_bytes(result.body)


def status_matches(status: int, pattern: str) -> bool:
    """``2xx``, ``200``, ``2xx,301``."""
    for part in pattern.split(","):
        p = part.strip().lower()
        if len(p) == 3 and p.endswith("xx") and p[0].isdigit():
            if status // 100 == int(p[0]):
                return True
        elif p.isdigit() and int(p) == status:
            return True
    return False


def run_all(
    flt: RequestFilter,
    args: EditArgs,
    *,
    tunnel: str | None,
    no_wait: bool,
    as_json: bool,
    delay: float,
    fail_fast: bool,
    expect_status: str | None,
    db: str | None = None,
) -> None:
    """Replay every match oldest first (of the agent, or of the archive ``db``); a summary
    on stderr; exit 6 on a failure."""
    import time

    from ngrok_inspect.cli.cmd_requests import fetch_requests
    from ngrok_inspect.cli.output import Output
    from ngrok_inspect.errors import ConditionNotMetError, NgrokInspectError

    emit = Output.open(json=as_json)
    if args.edit or args.dry_run:
        raise UsageError("--all cannot be combined with --edit or --dry-run", hint="Replay one ID")
    valid = re.compile(r"^\s*(?:[1-5]xx|[1-5]\d\d)\s*$", re.IGNORECASE)
    if expect_status is not None and not all(valid.match(p) for p in expect_status.split(",")):
        raise UsageError(f"bad --expect-status {expect_status!r}", hint="e.g. 2xx or 200,201")
    secret = _secret(args)
    edits = args.edits()
    st = state()
    records: list[dict[str, object]] = []
    statuses: dict[str, int] = {}
    failures = 0
    with st.client() as client:
        if db is not None:
            from ngrok_inspect.archive import ArchiveSource

            with ArchiveSource(db) as source:
                reqs = list(reversed(source.query(flt)))
        else:
            reqs = list(reversed(fetch_requests(client, flt, None)))
        if not reqs:
            emit.notice("No captured requests matching {} to replay", flt.describe())
            return
        recorder = args.to is None and client.records_sends()  # asked once, not per request
        for n, original in enumerate(reqs):
            if n and delay > 0:
                time.sleep(delay)  # pacing the receiver, as asked
            try:
                route = _route(client, original, tunnel, args.to, recorder=recorder)
                out = _build(original, args, edits, secret)
                new_id, result = _send_one(
                    client, original, out, route, wait=not no_wait, timeout=st.settings.timeout
                )
            except NgrokInspectError as e:
                failures += 1
                emit.notice("{}: {}", original.id, e.message)
                records.append({"replay_of": original.id, "error": e.message})
                if fail_fast:
                    break
                continue
            cls = f"{result.status // 100}xx"
            statuses[cls] = statuses.get(cls, 0) + 1
            ok = expect_status is None or status_matches(result.status, expect_status)
            failures += 0 if ok else 1
            records.append({"id": new_id, "replay_of": original.id, **result.to_dict()})
            if not as_json:
                emit.row(original.id, new_id or "-", result.status)
            if not ok and fail_fast:
                break
    if as_json:
        emit.document(records)
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items())) or "none"
    emit.notice(f"Replayed {len(records)} of {len(reqs)}; statuses {counts}; failures {failures}")
    if failures:
        raise ConditionNotMetError(
            f"{failures} replay(s) failed"
            + (f" or answered outside {expect_status}" if expect_status else ""),
            hint="See the lines above; rerun one with 'replay ID --show-response'",
        )


@dataclass(frozen=True)
class Route:
    """Where an edited request goes: ``base`` URL; ``captured`` when through a tunnel;
    ``records`` the tunnel name when the agent (ours) sends and captures it itself."""

    base: str
    captured: bool
    records: str | None = None


def _route(
    client: object,
    original: CapturedRequest,
    tunnel: str | None,
    to: str | None,
    *,
    dry_run: bool = False,
    recorder: bool | None = None,
) -> Route:
    """``--to URL``; else the tunnel's public URL, sent by our local agent itself (so the
    capture is ``remote_addr: "replayed"``) or, for a real ngrok agent, by us."""
    from ngrok_inspect.client import AgentClient

    if to is not None:
        return Route(to, captured=False)
    assert isinstance(client, AgentClient)
    name = tunnel or original.tunnel_name
    tunnels = client.tunnels()
    match = [t for t in tunnels if t.name == name] or ([] if tunnel else tunnels[:1])
    http = [t for t in match if t.public_url.startswith(("http://", "https://"))]
    if not http:
        raise UsageError(
            f"no http tunnel {name!r} to send the edited request through",
            hint="Use --to URL to send it straight to your app",
        )
    if dry_run:
        return Route(http[0].public_url, captured=True)
    if recorder is None:
        recorder = client.records_sends()
    return Route(http[0].public_url, captured=True, records=http[0].name if recorder else None)


def _resign_again(
    original: CapturedRequest,
    out: OutgoingRequest,
    provider: str,
    secret: str,
    url: str | None,
) -> OutgoingRequest:
    from datetime import datetime, timezone

    from ngrok_inspect import webhooks
    from ngrok_inspect.webhooks.base import SignedMessage, public_url

    body, _ = out.payload()
    msg = SignedMessage(out.method, "", out.headers, body, original.start)
    msg = SignedMessage(
        out.method, url or public_url(msg, out.target), out.headers, body, original.start
    )
    signed = webhooks.sign(msg, provider, secret, now=datetime.now(timezone.utc))
    for name, value in signed.headers:
        if out.header(name) != value:
            out = out.set_header(name, value)
    return out


def _warn_signature(original: CapturedRequest, out: OutgoingRequest) -> None:
    """Warn once when the receiver will reject the replay's signature."""
    from datetime import datetime, timezone

    from ngrok_inspect import webhooks
    from ngrok_inspect.cli.output import Output

    prov = webhooks.detect(original)
    if prov is None:
        return
    edited = out.body_edited
    stale = False
    if prov.tolerance_s is not None:
        msg = webhooks.SignedMessage.from_capture(original)
        ts_header = {"stripe": None, "slack": "X-Slack-Request-Timestamp"}.get(
            prov.name, "webhook-timestamp"
        )
        ts: int | None = None
        if prov.name == "stripe":
            sig = msg.header("Stripe-Signature") or ""
            t = next((p[2:] for p in sig.split(",") if p.strip().startswith("t=")), "")
            ts = int(t) if t.strip().isdigit() else None
        elif ts_header is not None:
            v = msg.header(ts_header) or msg.header("svix-timestamp") or ""
            ts = int(v) if v.strip().isdigit() else None
        stale = ts is not None and datetime.now(timezone.utc).timestamp() - ts > prov.tolerance_s
    if edited or stale:
        why = "its body was edited" if edited else "its timestamped signature is now stale"
        Output.warn(
            "{} is signed by {} and {}: the receiver will reject it. "
            "Re-sign with --resign {} --secret-env VAR",
            original.id, prov.name, why, prov.name,
        )  # fmt: skip
