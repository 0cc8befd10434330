"""A request to (re)send: the captured one, edited, as wire headers and body.

Headers stay a list of ``(name, value)`` in wire order with their captured case; ``body``
is the decoded payload (de-chunked, decompressed) and ``encoding`` the captured
``Content-Encoding``. A body nobody edited is sent as its captured bytes (``wire_body``),
so an unchanged field stays byte-for-byte what was captured.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from ngrok_inspect.bodies import compress, dechunk

if TYPE_CHECKING:
    from ngrok_inspect.models import CapturedRequest

#: Framing headers we recompute rather than copy.
FRAMING = ("content-length", "transfer-encoding")


@dataclass(frozen=True)
class OutgoingRequest:
    """What will be sent."""

    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    encoding: str | None = None
    wire_body: bytes | None = None  # the captured bytes, while the body is unedited
    truncated: bool = False

    def header(self, name: str) -> str | None:
        low = name.lower()
        return next((v for k, v in self.headers if k.lower() == low), None)

    def set_header(self, name: str, value: str) -> OutgoingRequest:
        """Replace the first ``name`` in place (captured case kept), drop the others;
        append when absent."""
        low = name.lower()
        out: list[tuple[str, str]] = []
        done = False
        for k, v in self.headers:
            if k.lower() == low:
                if not done:
                    out.append((k, value))
                    done = True
                continue
            out.append((k, v))
        if not done:
            out.append((name, value))
        return replace(self, headers=out)

    def del_header(self, name: str) -> OutgoingRequest:
        low = name.lower()
        return replace(self, headers=[(k, v) for k, v in self.headers if k.lower() != low])

    def with_body(self, body: bytes) -> OutgoingRequest:
        """The body replaced (it will be re-encoded with ``encoding`` when sent)."""
        return replace(self, body=body, wire_body=None, truncated=False)

    @property
    def body_edited(self) -> bool:
        return self.wire_body is None

    def payload(self) -> tuple[bytes, str | None]:
        """The body bytes to send and, when the encoding had to be dropped, its name."""
        if self.wire_body is not None:
            return self.wire_body, None
        if not self.encoding:
            return self.body, None
        encoded = compress(self.body, self.encoding)
        return (self.body, self.encoding) if encoded is None else (encoded, None)

    def wire(self) -> tuple[list[tuple[str, str]], bytes, str | None]:
        """Headers and body as sent: Content-Length recomputed, Transfer-Encoding dropped,
        Content-Encoding dropped (and named) when we cannot re-encode it."""
        body, dropped = self.payload()
        headers = [(k, v) for k, v in self.headers if k.lower() != "transfer-encoding"]
        if dropped is not None:
            headers = [(k, v) for k, v in headers if k.lower() != "content-encoding"]
        msg = replace(self, headers=headers)
        if body or self.method.upper() not in ("GET", "HEAD", "DELETE", "OPTIONS"):
            msg = msg.set_header("Content-Length", str(len(body)))
        else:
            msg = msg.del_header("Content-Length")
        return msg.headers, body, dropped

    @classmethod
    def from_capture(cls, req: CapturedRequest) -> OutgoingRequest:
        r = req.request
        body = r.body
        wire = body.wire
        chunked = any(
            k.lower() == "transfer-encoding" and "chunked" in v.lower() for k, v in r.header_lines
        )
        if chunked:
            wire, _ = dechunk(wire)
        decoded = body.data if body.decode_error is None else wire
        return cls(
            method=r.method,
            target=r.uri,
            headers=list(r.header_lines),
            body=decoded,
            encoding=body.encoding if body.decode_error is None else None,
            wire_body=wire,
            truncated=body.truncated,
        )
