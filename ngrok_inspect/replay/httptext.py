"""A request as HTTP message text (for ``--dry-run`` and ``--edit``) and back."""

from __future__ import annotations

from dataclasses import replace

from ngrok_inspect.errors import UsageError
from ngrok_inspect.replay.message import OutgoingRequest


def to_text(req: OutgoingRequest, *, redact: set[str] | None = None) -> str:
    """Request line, headers, a blank line, the decoded body (as UTF-8 text; undecodable
    bytes escaped). Header names in ``redact`` (lower case) have their value replaced."""
    lines = [f"{req.method} {req.target} HTTP/1.1"]
    for k, v in req.headers:
        lines.append(f"{k}: {'[redacted]' if redact and k.lower() in redact else v}")
    body = req.body.decode("utf-8", "backslashreplace")
    return "\r\n".join(lines).replace("\r\n", "\n") + "\n\n" + body


class ParseError(UsageError):
    """The edited text is not an HTTP request; ``line`` says where."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}", hint="Fix it in the editor, or abort")
        self.line = line


def from_text(text: str, original: OutgoingRequest) -> OutgoingRequest:
    """Parse what :func:`to_text` produced (maybe edited). An unchanged body keeps the
    captured bytes."""
    head, sep, body = text.partition("\n\n")
    lines = head.split("\n")
    first = lines[0].strip()
    parts = first.split()
    if len(parts) not in (2, 3) or not parts[1].startswith("/"):
        raise ParseError("expected 'METHOD /target HTTP/1.1'", 1)
    headers: list[tuple[str, str]] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or " " in name.strip():
            raise ParseError(f"expected 'Name: value', got {line[:40]!r}", n)
        headers.append((name.strip(), value.strip()))
    out = replace(original, method=parts[0].upper(), target=parts[1], headers=headers)
    new_body = body.encode("utf-8")
    if sep and new_body != original.body.decode("utf-8", "backslashreplace").encode("utf-8"):
        out = out.with_body(new_body)
    elif not sep and original.body:
        out = out.with_body(b"")
    return out
