"""``ngrok-inspect export`` end to end: the recorded agent, the local agent, real curl."""

from __future__ import annotations

import base64
import http.client
import json
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
from haralyzer import HarEntry, HarParser

from ngrok_inspect.models import CapturedRequest
from tests.cli_invoke import invoke
from tests.support.servers import WEBHOOK_ID, FixtureAgentServer
from tests.test_exporting import check_har_1_2

HEADERS_ID = "airt_3Mk9FXDY0Gnk2Ijxp52yzUcyGsh"


def run(fx_url: str, *args: str) -> Any:
    return invoke(["export", "--api-url", fx_url, *args])


# -- against the recorded real agent ------------------------------------------------------


def test_default_is_json_records_redacted(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url)
    assert r.exit_code == 0, r.stderr
    assert r.stderr == "Exported 12 requests (json, 4 values redacted)\n"
    served = fixture_agent.current_list()
    out = json.loads(r.stdout)
    assert [o["id"] for o in out] == [s["id"] for s in served]
    by_id = {o["id"]: o for o in out}
    assert by_id[HEADERS_ID]["request"]["headers"]["Cookie"] == ["[REDACTED]"]
    hook = CapturedRequest.from_api(next(s for s in served if s["id"] == WEBHOOK_ID))
    assert by_id[WEBHOOK_ID] == hook.to_dict()


def test_raw_no_redact_is_exactly_what_the_agent_served(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "--format", "raw", "--no-redact")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == fixture_agent.current_list()


def test_raw_redacts_inside_the_wire_bytes(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "-F", "raw", "--path", "/headers")
    assert r.exit_code == 0, r.stderr
    [entry] = json.loads(r.stdout)
    raw_req = base64.b64decode(entry["request"]["raw"])
    raw_resp = base64.b64decode(entry["response"]["raw"])
    assert b"Cookie: [REDACTED]\r\n" in raw_req and b"c1=v1\r\n" not in raw_req
    assert raw_resp.count(b"Set-Cookie: [REDACTED]") == 2
    assert b"a=1; Path=/" not in raw_resp


def test_ndjson_with_filters_and_limit(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "--format", "ndjson", "--method", "POST", "--limit", "2")
    assert r.exit_code == 0, r.stderr
    lines = r.stdout.splitlines()
    assert [json.loads(ln)["uri"] for ln in lines] == ["/upload", "/form"]
    r = run(fixture_agent.url, "--format", "ndjson", "--status", "5xx")
    assert [json.loads(ln)["path"] for ln in r.stdout.splitlines()] == ["/boom"]


def test_har_uses_the_tunnels_public_url(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "--format", "har")
    assert r.exit_code == 0, r.stderr
    doc = json.loads(r.stdout)
    check_har_1_2(doc)
    urls = [HarEntry(e).url for e in doc["log"]["entries"]]
    assert urls[0] == "http://127.0.0.1:8080/search?q=hello%20world&page=2&tag=a&tag=b"
    assert len(HarParser(doc).pages[0].entries) == len(fixture_agent.current_list())
    assert ("GET", "/api/tunnels") in [(m, p) for m, p, _ in fixture_agent.calls]


def test_empty_history_says_so_and_prints_an_empty_document(
    fixture_agent: FixtureAgentServer,
) -> None:
    requests.delete(fixture_agent.url + "/api/requests/http", timeout=5)
    r = run(fixture_agent.url)
    assert r.exit_code == 0
    assert r.stdout == "[]\n"
    assert "No captured requests" in r.stderr
    r = run(fixture_agent.url, "--format", "har")
    assert json.loads(r.stdout)["log"]["entries"] == []


def test_unknown_format_is_exit_2(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "--format", "xml")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "xml" in r.stderr


def test_bad_filter_is_exit_2_with_empty_stdout(fixture_agent: FixtureAgentServer) -> None:
    r = run(fixture_agent.url, "--status", "6xx")
    assert r.exit_code == 2
    assert r.stdout == ""
    assert r.stderr.startswith("Error: ")


def test_unreachable_agent_is_exit_3(broken_server: Any) -> None:
    r = run(broken_server("refuse"))
    assert r.exit_code == 3
    assert r.stdout == ""


# -- -o FILE -------------------------------------------------------------------------------


def test_output_file_written_and_existing_file_needs_force(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    target = tmp_path / "traffic.har"
    r = run(fixture_agent.url, "--format", "har", "-o", str(target))
    assert r.exit_code == 0, r.stderr
    assert r.stdout == ""
    assert r.stderr == f"Exported 12 requests (har, 4 values redacted) to {target}\n"
    first = target.read_bytes()
    check_har_1_2(json.loads(first))

    r = run(fixture_agent.url, "--format", "json", "-o", str(target))
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == f"Error: {target} already exists"
    assert "--force" in lines[1] and len(lines) == 2
    assert target.read_bytes() == first

    r = run(fixture_agent.url, "--format", "json", "-o", str(target), "--force")
    assert r.exit_code == 0, r.stderr
    assert json.loads(target.read_bytes())[0]["id"] == "airt_3Mk9FnMCUO6FVwLDSH9S0NIhaMS"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["traffic.har"]


def test_output_to_a_full_device_fails_cleanly(fixture_agent: FixtureAgentServer) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    r = run(fixture_agent.url, "-o", "/dev/full")
    assert r.exit_code == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines[0] == "Error: cannot write /dev/full: No space left on device"
    assert len(lines) == 2 and "space" in lines[1]
    assert "Traceback" not in r.stderr


def test_output_into_a_missing_directory_is_exit_2(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    r = run(fixture_agent.url, "-o", str(tmp_path / "no" / "such.json"))
    assert r.exit_code == 2
    assert r.stdout == ""
    assert "does not exist" in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_installed_command_with_a_file_size_limit(
    fixture_agent: FixtureAgentServer, tmp_path: Path
) -> None:
    """The real script under RLIMIT_FSIZE (a disk that fills up mid-write)."""
    import resource
    import signal

    exe = shutil.which("ngrok-inspect") or str(
        Path(__file__).parents[1] / ".venv/bin/ngrok-inspect"
    )
    target = tmp_path / "dump.json"
    target.write_text("precious")

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (2048, 2048))

    r = subprocess.run(
        [exe, "export", "--api-url", fixture_agent.url, "-o", str(target), "--force"],
        capture_output=True,
        text=True,
        preexec_fn=limit,
        timeout=60,
        check=False,
    )
    assert r.returncode == 1, r.stderr
    assert r.stdout == ""
    assert r.stderr.startswith(f"Error: cannot write {target}: File too large\n")
    assert target.read_text() == "precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dump.json"]


# -- curl, executed against a live upstream ------------------------------------------------


class Recorder:
    """A stdlib HTTP server on 127.0.0.1 that records exactly what arrives."""

    def __init__(self) -> None:
        self.arrivals: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                recorder.arrivals.append(
                    {
                        "method": self.command,
                        "target": self.path,
                        "headers": list(self.headers.items()),
                        "body": body,
                    }
                )
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _any

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    rec = Recorder()
    yield rec
    rec.stop()


TRICKY_JSON = json.dumps({"name": "héllo ✓ it's $HOME `x` \\n"}, ensure_ascii=False).encode()
BINARY = bytes(range(256)) * 8 + b"\r\n\x00'\"$`\\"
ORIGINALS: list[tuple[str, str, list[tuple[str, str]], bytes]] = [
    ("POST", "/upload?kind=bin", [("Content-Type", "application/octet-stream"),
     ("Authorization", "Bearer tok-123"), ("X-Multi", "one"), ("X-Multi", "two")], BINARY),
    ("PUT", "/items/7", [("Content-Type", "application/json"),
     ("X-Hub-Signature-256", "sha256=ab")], TRICKY_JSON),
    ("GET", "/search?q=a%20b&list=[1]&x={y}", [("Accept", "application/json"),
     ("User-Agent", "original/1.0"), ("Cookie", "a=1; b=2")], b""),
    ("DELETE", "/items/7", [("X-Empty", "")], b""),
    ("POST", "/big", [("Content-Type", "text/plain; charset=utf-8")], ("line\r\n" * 8000).encode()),
    ("PATCH", "/p", [], b"name=x&y=%20"),
]  # fmt: skip
HOP = {"host", "content-length", "connection", "transfer-encoding"}


def send_original(public_url: str, method: str, target: str, headers: list[tuple[str, str]],
                  body: bytes) -> None:  # fmt: skip
    port = int(public_url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, target, skip_accept_encoding=True)
        for k, v in headers:
            conn.putheader(k, v)
        if body or method in ("POST", "PUT", "PATCH"):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body or None)
        conn.getresponse().read()
    finally:
        conn.close()


def comparable(arrival: dict[str, Any]) -> tuple[str, str, list[tuple[str, str]], bytes]:
    headers = sorted((k.lower(), v) for k, v in arrival["headers"] if k.lower() not in HOP)
    return arrival["method"], arrival["target"], headers, arrival["body"]


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_curl_script_reproduces_every_request(recorder: Recorder, tmp_path: Path) -> None:
    from ngrok_inspect.local_agent import LocalAgent

    with LocalAgent(recorder.url) as agent:
        public = agent.tunnels[0].public_url
        for method, target, headers, body in ORIGINALS:
            send_original(public, method, target, headers, body)
        deadline = time.monotonic() + 10
        listing = agent.api_url + "/api/requests/http"
        while len(requests.get(listing, timeout=5).json()["requests"]) < len(ORIGINALS):
            assert time.monotonic() < deadline, "the agent did not capture the traffic"
            time.sleep(0.05)
        script = tmp_path / "replay.sh"
        args = ["--api-url", agent.api_url, "-F", "curl", "--no-redact", "-o", str(script)]
        r = invoke(["export", *args])
        assert r.exit_code == 0, r.stderr
        originals = [comparable(a) for a in recorder.arrivals]
        assert len(originals) == len(ORIGINALS)
        done = subprocess.run(["bash", str(script)], capture_output=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout == b"ok" * len(ORIGINALS)
    replays = [comparable(a) for a in recorder.arrivals[len(ORIGINALS) :]]
    assert len(replays) == len(ORIGINALS)
    for orig, replay in zip(originals, replays, strict=True):
        assert replay[:2] == orig[:2]  # method and target
        assert replay[3] == orig[3], f"{orig[0]} {orig[1]}: body differs"  # exact bytes
        assert replay[2] == orig[2], f"{orig[0]} {orig[1]}: headers differ"
    assert replays[0][3] == BINARY


@pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")
def test_redacted_curl_sends_no_secret(
    recorder: Recorder, fixture_agent: FixtureAgentServer
) -> None:
    """Default curl export replays [REDACTED], never the captured secret (recorded agent)."""
    r = run(fixture_agent.url, "-F", "curl", "--path", "/headers")
    assert r.exit_code == 0, r.stderr
    script = r.stdout.replace("http://127.0.0.1:8080", recorder.url)
    done = subprocess.run(["sh", "-c", script], capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    [arrival] = recorder.arrivals
    headers = arrival["headers"]
    assert ("Cookie", "[REDACTED]") in headers
    assert [v for k, v in headers if k == "X-Multi"] == ["first", "second"]
    assert arrival["target"] == "/headers"


def test_output_dash_is_stdout(fixture_agent: FixtureAgentServer, tmp_path: Path) -> None:
    r = run(fixture_agent.url, "-F", "ndjson", "-o", "-", "--limit", "1")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["id"] == "airt_3Mk9FnMCUO6FVwLDSH9S0NIhaMS"
    assert r.stderr == "Exported 1 request (ndjson, 0 values redacted)\n"


def test_exporting_core_loads_no_ui_or_server_libraries() -> None:
    from tests.test_core_imports import loaded_after_import

    assert (
        loaded_after_import(
            ["ngrok_inspect.export", "ngrok_inspect.redaction", "ngrok_inspect.atomicio"]
        )
        == []
    )


@pytest.mark.parametrize("fmt", ["json", "har", "curl"])
def test_export_command_never_loads_rich_or_aiohttp(
    fixture_agent: FixtureAgentServer, fmt: str
) -> None:
    code = (
        "import sys\n"
        "from ngrok_inspect.cli import run\n"
        f"code = run(['export', '--api-url', {fixture_agent.url!r}, '-F', {fmt!r}])\n"
        "sys.stderr.write(repr((code, sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('rich', 'aiohttp')))))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert r.stderr.strip().endswith("(0, [])"), r.stderr
    assert r.stdout


@pytest.mark.skipif(shutil.which("jq") is None, reason="needs jq")
def test_installed_command_in_a_jq_pipeline(fixture_agent: FixtureAgentServer) -> None:
    exe = shutil.which("ngrok-inspect") or str(Path(sys.executable).parent / "ngrok-inspect")
    r = subprocess.run(
        f"'{exe}' export --api-url {fixture_agent.url} -F ndjson --errors | jq -r .path",
        shell=True,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["/boom", "/does-not-exist"]
