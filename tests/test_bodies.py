"""Raw message parsing: de-chunking, content decoding, charsets, classification, truncation."""

from __future__ import annotations

import base64
import gzip
import json
import zlib

import brotli
import pytest

from ngrok_inspect.bodies import Body, dechunk, decompress, parse_content_type, split_message
from ngrok_inspect.models import HttpMessage, HttpResponse


def message(head: str, body: bytes = b"") -> bytes:
    return head.replace("\n", "\r\n").encode("latin-1") + b"\r\n\r\n" + body


def body_of(headers: dict[str, str], payload: bytes) -> Body:
    return Body(payload, list(headers.items()))


def test_split_message_keeps_wire_order_and_body() -> None:
    raw = message("HTTP/1.1 200 OK\nB: 2\nA: 1\nB: 3", b"hello\r\n\r\nworld")
    start, headers, body = split_message(raw)
    assert start == "HTTP/1.1 200 OK"
    assert headers == [("B", "2"), ("A", "1"), ("B", "3")]
    assert body == b"hello\r\n\r\nworld"


def test_split_message_cut_in_headers() -> None:
    start, headers, body = split_message(b"GET / HTTP/1.1\r\nHost: x")
    assert start == "GET / HTTP/1.1" and headers == [("Host", "x")] and body == b""


def test_dechunk_complete_and_cut() -> None:
    wire = b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
    assert dechunk(wire) == (b"hello world", True)
    assert dechunk(wire[:12]) == (b"hello", False)
    assert dechunk(b"zz\r\n") == (b"", False)


def test_chunked_gzip_body() -> None:
    payload = json.dumps({"a": [1, 2, 3]}).encode()
    gz = gzip.compress(payload)
    chunked = b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (10, gz[:10], len(gz) - 10, gz[10:])
    b = body_of(
        {
            "Content-Type": "application/json",
            "Content-Encoding": "gzip",
            "Transfer-Encoding": "chunked",
        },
        chunked,
    )
    assert b.data == payload and b.kind == "json" and b.json == {"a": [1, 2, 3]}
    assert not b.truncated and b.encoding == "gzip" and b.wire == chunked


def test_chunked_without_last_chunk_is_truncated() -> None:
    b = body_of({"Transfer-Encoding": "chunked", "Content-Type": "text/plain"}, b"5\r\nhello\r\n")
    assert b.truncated and b.text == "hello"


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", lambda d: zlib.compress(d)[2:-4]),  # raw deflate, as some servers send
        ("br", brotli.compress),
        ("gzip, br", lambda d: brotli.compress(gzip.compress(d))),
    ],
)
def test_content_encodings(encoding: str, encode: object) -> None:
    payload = "héllo wörld ".encode() * 50
    wire = encode(payload)  # type: ignore[operator]
    b = body_of({"Content-Type": "text/plain; charset=utf-8", "Content-Encoding": encoding}, wire)
    assert b.decode_error is None
    assert b.data == payload and b.text == payload.decode()
    assert b.size == len(payload) and b.encoding == encoding


def test_unknown_encoding_is_reported_not_raised() -> None:
    b = body_of(
        {"Content-Type": "application/json", "Content-Encoding": "zstd"}, b"\x28\xb5\x2f\xfd"
    )
    assert b.decode_error == "unknown content-encoding 'zstd'"
    assert b.data == b.wire and b.kind == "binary" and b.text is None
    d = b.to_dict()
    assert d["base64"] == base64.b64encode(b.wire).decode() and d["json"] is None


def test_corrupt_gzip() -> None:
    b = body_of({"Content-Encoding": "gzip"}, b"not gzip at all")
    assert b.decode_error == "corrupt gzip data" and b.kind == "binary"
    assert decompress(b"abc", None) == (b"abc", None)
    assert decompress(b"abc", "identity") == (b"abc", None)


def test_truncated_gzip_gives_what_was_there() -> None:
    payload = b"line of text\n" * 2000
    gz = gzip.compress(payload)
    cut = gz[: len(gz) // 2]
    b = body_of(
        {"Content-Type": "text/plain", "Content-Encoding": "gzip", "Content-Length": str(len(gz))},
        cut,
    )
    assert b.truncated and b.declared_length == len(gz)
    assert b.decode_error is None and payload.startswith(b.data) and 0 < b.size < len(payload)


def test_content_length_longer_than_capture_is_truncated() -> None:
    b = body_of({"Content-Type": "text/plain", "Content-Length": "100"}, b"only 20 bytes here..")
    assert b.truncated and b.to_dict()["truncated"] is True
    ok = body_of({"Content-Type": "text/plain", "Content-Length": "4"}, b"full")
    assert not ok.truncated


def test_charset_applied() -> None:
    text = "Grüße, naïve café"
    b = body_of({"Content-Type": "text/plain; charset=ISO-8859-1"}, text.encode("latin-1"))
    assert b.charset == "ISO-8859-1" and b.text == text
    bad = body_of({"Content-Type": "text/plain; charset=no-such-charset"}, b"abc")
    assert bad.text == "abc"


def test_parse_content_type() -> None:
    assert parse_content_type('Multipart/Form-Data; boundary="xyz"; charset=utf-8') == (
        "multipart/form-data",
        {"boundary": "xyz", "charset": "utf-8"},
    )
    assert parse_content_type(None) == (None, {})


@pytest.mark.parametrize(
    ("ctype", "payload", "kind"),
    [
        ("application/json", b'{"a": 1}', "json"),
        ("application/vnd.api+json", b"[1, 2]", "json"),
        ("application/json", b"{not json", "text"),
        (None, b'{"sniffed": true}', "json"),
        ("text/html; charset=utf-8", b"<html><body>x</body></html>", "html"),
        ("application/xml", b"<a>1</a>", "xml"),
        ("application/atom+xml", b"<feed/>", "xml"),
        ("text/csv", b"a,b\n1,2\n", "text"),
        ("application/javascript", b"let a = 1;", "text"),
        ("application/x-www-form-urlencoded", b"a=1&b=", "form"),
        ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00", "binary"),
        ("application/octet-stream", b"abc", "binary"),
        (None, b"\x00\x01\x02\xff", "binary"),
        (None, b"plain words", "text"),
        ("text/plain", b"", "empty"),
    ],
)
def test_classification(ctype: str | None, payload: bytes, kind: str) -> None:
    headers = {"Content-Type": ctype} if ctype else {}
    b = body_of(headers, payload)
    assert b.kind == kind
    d = b.to_dict()
    if kind == "binary":
        assert d["text"] is None and base64.b64decode(d["base64"]) == payload
    else:
        assert d["base64"] is None and d["text"] == payload.decode()
    assert (d["json"] is not None) == (kind == "json")


def test_form_keeps_order_blanks_and_repeats() -> None:
    b = body_of({"Content-Type": "application/x-www-form-urlencoded"}, b"a=1&b=&a=2&c=%E2%9C%93")
    assert b.form == [("a", "1"), ("b", ""), ("a", "2"), ("c", "✓")]
    assert body_of({"Content-Type": "text/plain"}, b"a=1").form is None


def test_multipart_parts() -> None:
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
    payload = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="title"\r\n\r\n'
        b"hello\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="file"; filename="a.png"\r\n'
        b"Content-Type: image/png\r\n\r\n" + png + b"\r\n"
        b"--XyZ--\r\n"
    )
    b = body_of({"Content-Type": "multipart/form-data; boundary=XyZ"}, payload)
    assert b.kind == "multipart"
    assert b.parts is not None and len(b.parts) == 2
    title, file = b.parts
    assert (title.name, title.filename, title.body.text) == ("title", None, "hello")
    assert (file.name, file.filename) == ("file", "a.png")
    assert file.body.content_type == "image/png" and file.body.data == png
    assert file.body.kind == "binary"
    assert b.text is None and b.to_dict()["base64"] is not None  # binary part inside


def test_message_without_raw_falls_back_to_headers_map() -> None:
    m = HttpResponse({"status": "200 OK", "status_code": 200, "proto": "HTTP/1.1",
                      "headers": {"Content-Type": ["text/plain"], "X-A": ["1", "2"]}})  # fmt: skip
    assert m.raw == b"" and m.start_line == "HTTP/1.1 200 OK"
    assert m.header_lines == [("Content-Type", "text/plain"), ("X-A", "1"), ("X-A", "2")]
    assert m.body.kind == "empty"


def test_invalid_base64_raw_is_empty_not_an_error() -> None:
    m = HttpMessage({"proto": "HTTP/1.1", "headers": {}, "raw": "***not base64***"})
    assert m.raw == b"" and m.body.size == 0


def test_status_code_from_status_text() -> None:
    r = HttpResponse({"status": "418 I'm a teapot", "headers": {}})
    assert r.status_code == 418 and r.reason == "I'm a teapot"
