"""``ngrok-inspect agent``: the installed command in a subprocess, with bounded timeouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from tests.support.live import Upstream

EXE = str(Path(sys.executable).with_name("ngrok-inspect"))


class Running:
    """A running ``ngrok-inspect agent`` with its banner parsed from stderr."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [EXE, "agent", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.banner: list[str] = []
        assert self.proc.stderr is not None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                break
            self.banner.append(line.rstrip("\n"))
            if line.startswith("Press Ctrl-C"):
                break
        assert self.banner and self.banner[-1].startswith("Press Ctrl-C"), self.banner

    def tunnel_urls(self) -> dict[str, str]:
        out = {}
        for line in self.banner:
            if line.startswith("Tunnel  "):
                parts = line.split()
                url = next(p for p in parts if p.startswith("http://"))
                out[line[8:].split("  ")[0].strip()] = url
        return out

    @property
    def api_url(self) -> str:
        line = next(ln for ln in self.banner if ln.startswith("API "))
        return line.split()[-1].removesuffix("/api")

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=15)
        return self.proc.returncode, out, err


@pytest.fixture
def run_agent() -> Iterator[Any]:
    started: list[Running] = []

    def start(*args: str) -> Running:
        r = Running(list(args), env=dict(os.environ))
        started.append(r)
        return r

    yield start
    for r in started:
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.communicate(timeout=10)


def _read(stream: IO[str] | None) -> str:
    return stream.read() if stream else ""


def test_agent_forwards_prints_lines_and_exits_0_on_sigterm(
    run_agent: Any, upstream: Upstream
) -> None:
    agent = run_agent(upstream.url, "--web-addr", "127.0.0.1:0", "--name", "web")
    urls = agent.tunnel_urls()
    assert list(urls) == ["web"]
    assert f"-> {upstream.url}" in next(ln for ln in agent.banner if ln.startswith("Tunnel"))
    r = requests.post(urls["web"] + "/webhook?source=test", json={"a": 1}, timeout=10)
    assert r.status_code == 201
    [e] = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()["requests"]
    assert e["tunnel_name"] == "web"
    code, out, err = agent.stop(signal.SIGTERM)
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1
    assert "POST" in lines[0] and "/webhook?source=test" in lines[0] and "201 Created" in lines[0]
    assert err.strip().endswith("Stopped.")
    assert "Traceback" not in err


def test_ctrl_c_exits_0_and_quiet_prints_no_request_lines(run_agent: Any) -> None:
    agent = run_agent("--web-addr", "127.0.0.1:0", "--quiet")
    url = agent.tunnel_urls()["command_line"]
    assert "request bin" in agent.banner[1]
    assert requests.get(url + "/x", timeout=10).json()["ok"] is True
    import socket

    host, port = url.split("//")[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as s:  # gone mid-body
        s.sendall(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\nonly")
    assert requests.get(url + "/still-alive", timeout=10).status_code == 200
    code, out, err = agent.stop(signal.SIGINT)
    assert code == 0
    assert out == ""
    assert "Traceback" not in err and "Error handling request" not in err


def test_config_file_with_several_tunnels(
    run_agent: Any, upstream: Upstream, tmp_path: Path
) -> None:
    port = upstream.url.rsplit(":", 1)[1]
    cfg = tmp_path / "ngrok.yml"
    cfg.write_text(
        'version: "2"\n'
        "tunnels:\n"
        f"  api:\n    proto: http\n    addr: {port}\n"
        f"  quiet:\n    proto: http\n    addr: 127.0.0.1:{port}\n    inspect: false\n"
        "  ssh:\n    proto: tcp\n    addr: 22\n",
        encoding="utf-8",
    )
    agent = run_agent("--config", str(cfg), "--web-addr", "127.0.0.1:0")
    urls = agent.tunnel_urls()
    assert set(urls) == {"api", "quiet"}
    assert any("Skipping tunnel ssh (tcp)" in ln for ln in agent.banner)
    requests.get(urls["api"] + "/one", timeout=10)
    requests.get(urls["quiet"] + "/two", timeout=10)
    listed = requests.get(agent.api_url + "/api/requests/http", timeout=10).json()["requests"]
    assert [e["request"]["uri"] for e in listed] == ["/one"]
    code, out, _ = agent.stop()
    assert code == 0
    assert "api" in out and "quiet" in out  # several tunnels: lines name the tunnel


def test_v3_endpoints_config(run_agent: Any, upstream: Upstream, tmp_path: Path) -> None:
    cfg = tmp_path / "ngrok.yml"
    cfg.write_text(
        'version: "3"\nagent:\n  authtoken: x\nendpoints:\n'
        "  - name: site\n    url: https://site.example\n"
        f"    upstream:\n      url: {upstream.url}\n",
        encoding="utf-8",
    )
    agent = run_agent("--config", str(cfg), "--web-addr", "127.0.0.1:0", "--name", "other")
    assert list(agent.tunnel_urls()) == ["site"]
    assert "Note: UPSTREAM, --listen and --name are ignored with --config" in agent.banner
    assert agent.stop()[0] == 0


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([EXE, "agent", *args], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["http://"], "invalid upstream"),
        (["8000", "--capture-limit", "lots"], "invalid size"),
        (["8000", "--listen", "127.0.0.1:notaport"], "invalid address"),
        (["--config", "/nonexistent/ngrok.yml"], "does not exist"),
    ],
)
def test_bad_input_exits_2_with_cause_and_hint(args: list[str], needle: str) -> None:
    p = _run([*args, "--web-addr", "127.0.0.1:0"])
    assert p.returncode == 2
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert lines[0].startswith("Error: ") and needle in lines[0]
    assert len(lines) == 2 and "Traceback" not in p.stderr


def test_busy_web_addr_given_explicitly_exits_2() -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        p = _run(["--web-addr", f"127.0.0.1:{port}"])
    assert p.returncode == 2
    assert "cannot serve the agent API" in p.stderr


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    cfg = tmp_path / "ngrok.yml"
    cfg.write_text('version: "2"\ntunnels:\n  a: [unclosed\n', encoding="utf-8")
    p = _run(["--config", str(cfg), "--web-addr", "127.0.0.1:0"])
    assert p.returncode == 2
    assert "line" in p.stderr.splitlines()[0]


def test_other_commands_never_load_aiohttp() -> None:
    code = (
        "import sys; import ngrok_inspect.cli.commands as c; c.load_all(); "
        "print('aiohttp' in sys.modules, 'ngrok_inspect.local_agent' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert out.stdout.split() == ["False", "False"]


def test_limits_options_and_a_broken_answer_on_the_console_line(run_agent: Any) -> None:
    import socket

    from tests.support.raw_upstream import Cut, RecordingUpstream

    cut = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n" + b"x" * 100_000
    up = RecordingUpstream(lambda i, seen: Cut(cut))
    try:
        agent = run_agent(
            up.url,
            "--web-addr",
            "127.0.0.1:0",
            "--header-timeout",
            "0.3",
            "--body-timeout",
            "5",
            "--send-timeout",
            "5",
            "--inflight-budget",
            "1MiB",
        )
        url = agent.tunnel_urls()["command_line"]
        host, port = url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as s:
            assert s.recv(100) == b""  # sent nothing: closed at the header timeout
        with pytest.raises(
            (requests.exceptions.ConnectionError, requests.exceptions.ChunkedEncodingError)
        ):
            requests.get(url + "/big", timeout=30).raise_for_status()
        code, out, err = agent.stop()
    finally:
        up.close()
    assert code == 0, err
    [line] = out.splitlines()
    assert "GET" in line and "/big  200 OK" in line
    assert line.endswith("(the upstream broke off after 100000 of 1000000 body bytes)")
