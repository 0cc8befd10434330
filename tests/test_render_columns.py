"""On a narrow terminal, `requests list` gives up side columns before it cuts the path."""

from __future__ import annotations

import io
import json

from rich.console import Console

from ngrok_inspect.models import CapturedRequest
from ngrok_inspect.render.requests import list_renderable
from tests.conftest import FIXTURES


def _render(width: int) -> list[str]:
    data = json.loads((FIXTURES / "requests.json").read_text())["requests"]
    reqs = [CapturedRequest.from_api(d) for d in data]
    console = Console(width=width, no_color=True, record=True, file=io.StringIO())
    console.print(list_renderable(reqs, width=width), crop=True, no_wrap=True)
    return console.export_text().splitlines()


def test_wide_terminal_shows_every_column() -> None:
    head = _render(200)[0].split()
    assert head == ["ID", "TIME", "TUNNEL", "METHOD", "PATH", "STATUS", "MS", "SIZE", "CLIENT"]


def test_narrow_terminal_drops_side_columns_before_cutting_the_path() -> None:
    lines = _render(96)
    head = lines[0].split()
    assert "CLIENT" not in head and "TUNNEL" not in head
    assert "PATH" in head and "STATUS" in head
    # /search?q=hello%20world&page=2&tag=a&tag=b keeps at least 23 characters and an ellipsis
    search = next(ln for ln in lines if "/search" in ln)
    assert "/search?q=hello%20world" in search
    assert all(len(ln) <= 96 for ln in lines)
