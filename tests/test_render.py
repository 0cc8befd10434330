"""render/: body views by kind, column fitting, pending entries, and no rich for JSON."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

from ngrok_inspect.bodies import Body
from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.render.requests import detail_plain, list_plain, raw_exchange
from ngrok_inspect.render.text import (
    body_blocks,
    choose_columns,
    fit_cell,
    fit_widths,
    hex_preview,
    human_size,
)

FIXTURES = Path(__file__).parent / "fixtures" / "agent-2.3.41"


def _body(data: bytes, ctype: str | None, **extra: str) -> Body:
    headers = [("Content-Length", str(len(data)))]
    if ctype:
        headers.append(("Content-Type", ctype))
    headers.extend(extra.items())
    return Body(data, headers)


def _texts(body: Body) -> list[tuple[str, str]]:
    return [(b.kind, b.text) for b in body_blocks(body)]


def test_json_is_pretty_printed() -> None:
    blocks = body_blocks(_body(b'{"a":[1,2],"b":{"c":null}}', "application/json"))
    assert blocks[0].kind == "code" and blocks[0].lexer == "json"
    assert json.loads(blocks[0].text) == {"a": [1, 2], "b": {"c": None}}
    assert '\n  "b": {\n    "c": null\n  }' in blocks[0].text


def test_form_is_a_table() -> None:
    blocks = body_blocks(
        _body(b"name=Jane+Doe&note=a%26b%3Dc&n=1", "application/x-www-form-urlencoded")
    )
    assert blocks[0].kind == "table"
    assert blocks[0].rows == [("name", "Jane Doe"), ("note", "a&b=c"), ("n", "1")]


def test_multipart_part_by_part() -> None:
    data = (
        b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.bin"\r\n'
        b"Content-Type: application/octet-stream\r\n\r\n\x00\x01\x02\xff\r\n--XyZ--\r\n"
    )
    blocks = body_blocks(_body(data, "multipart/form-data; boundary=XyZ"))
    headings = [b.text for b in blocks if b.kind == "heading"]
    assert headings[0].startswith("part 1 · name='field'")
    assert "filename='a.bin'" in headings[1] and "application/octet-stream" in headings[1]
    assert ("text", "value") in [(b.kind, b.text) for b in blocks]
    assert any(b.kind == "text" and b.text.startswith("00000000  00 01 02 ff") for b in blocks)


def test_xml_is_indented() -> None:
    blocks = body_blocks(_body(b"<a><b>1</b><c/></a>", "application/xml"))
    assert blocks[0].lexer == "xml"
    assert blocks[0].text.splitlines() == ["<a>", "  <b>1</b>", "  <c/>", "</a>"]


def test_html_kept_when_not_xml() -> None:
    html = b"<html><body><p>Hi<br></body></html>"
    blocks = body_blocks(_body(html, "text/html"))
    assert blocks[0].lexer == "html"
    assert blocks[0].text == html.decode()


def test_binary_gets_size_type_and_hex_preview() -> None:
    data = bytes(range(256))
    blocks = body_blocks(_body(data, "image/png"))
    assert blocks[0].text == "binary data, 256 B, image/png"
    assert blocks[1].text.splitlines()[0] == (
        "00000000  00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f  ................"
    )
    assert len(blocks[1].text.splitlines()) == 4  # 64 bytes previewed
    assert "use --body" in blocks[2].text


def test_gzip_is_decoded_and_truncation_flagged() -> None:
    payload = gzip.compress(b'{"ok": true}')
    body = Body(payload, [("Content-Encoding", "gzip"), ("Content-Type", "application/json")])
    assert json.loads(body_blocks(body)[0].text) == {"ok": True}
    cut = Body(b"abc", [("Content-Length", "10"), ("Content-Type", "text/plain")])
    notes = [b.text for b in body_blocks(cut) if b.kind == "note"]
    assert notes == ["truncated capture: the agent kept 3 of 10 bytes"]


def test_empty_body() -> None:
    assert _texts(Body(b"", [])) == []  # the title says "empty"


def test_fitting_helpers() -> None:
    assert fit_cell("abcdef", 4) == "abc…"
    assert fit_cell("ab", 4, right=True) == "  ab"
    assert fit_widths([5, 30, 5], 1, 40) == [5, 26, 5]
    assert fit_widths([5, 30, 5], 1, 100) == [5, 30, 5]
    assert fit_widths([5, 30, 5], 1, 10) == [5, 8, 5]
    names = ["ID", "PATH", "CLIENT", "TIME"]
    assert choose_columns(names, [30, 20, 9, 8], "PATH", 200, ["CLIENT", "TIME"]) == [0, 1, 2, 3]
    assert choose_columns(names, [30, 20, 9, 8], "PATH", 60, ["CLIENT", "TIME"]) == [0, 1, 3]
    assert human_size(200 * 1024) == "200.0 KiB"
    assert hex_preview(b"AB") == "00000000  41 42" + " " * 42 + "  AB"


def _recorded(name: str = "request-by-id") -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / f"{name}.json").read_text())
    return data


def test_pending_entry_views() -> None:
    data = _recorded()
    data["response"] = None
    req = CapturedRequest.from_api(data)
    text = detail_plain(req)
    assert "Status:   pending (no response yet)" in text
    assert "== Response: none yet (pending)" in text
    line = list_plain([req]).rstrip("\n").split("\t")
    assert line[5:8] == ["pending", "-", "-"]
    assert raw_exchange(req) == req.request.raw


def test_detail_plain_of_the_recorded_webhook() -> None:
    req = CapturedRequest.from_api(_recorded())
    text = detail_plain(req, {"web": "https://example.ngrok.app"})
    assert text.splitlines()[0] == "Request:  POST https://example.ngrok.app/webhook?source=test"
    assert "Content-Type: application/json" in text


def test_json_output_path_never_imports_rich() -> None:
    code = (
        "import sys, json\n"
        "from ngrok_inspect.models import CapturedRequest\n"
        "import ngrok_inspect.render.output as o, ngrok_inspect.render.requests\n"
        "import ngrok_inspect.cli, ngrok_inspect.cli.commands as c\nc.load_all()\n"
        f"d = json.load(open({str(FIXTURES / 'request-by-id.json')!r}))\n"
        "o.dumps(CapturedRequest.from_api(d).to_dict())\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'aiohttp'))\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
