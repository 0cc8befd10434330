"""What ``agent`` and ``demo --keep`` say at start and stop: the ready file, where the other
commands find the agent when it moved off its port, an upstream that does not answer,
why a 502 happened, and "Stopped." on Ctrl-C. Real processes, real sockets; each waits on
the process's own output, never on a sleep."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent
from tests.support.live import Upstream

EXE = str(Path(sys.executable).with_name("ngrok-inspect"))


class Proc:
    """A running ``ngrok-inspect`` command whose stderr is read up to a marker line."""

    def __init__(self, args: list[str], env: dict[str, str] | None = None) -> None:
        self.proc = subprocess.Popen(
            [EXE, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
        )
        self.err: list[str] = []

    def read_until(self, prefix: str) -> list[str]:
        """stderr lines up to and including the first that starts with ``prefix``."""
        assert self.proc.stderr is not None
        while True:
            line = self.proc.stderr.readline()
            assert line, f"exited before {prefix!r}: {self.err}"
            self.err.append(line.rstrip("\n"))
            if line.startswith(prefix):
                return self.err

    def line(self, prefix: str) -> str:
        return next(ln for ln in self.err if ln.startswith(prefix))

    @property
    def api_url(self) -> str:
        return self.line("API ").split()[-1].removesuffix("/api")

    def stop(self, sig: int = signal.SIGINT) -> tuple[int, str, str]:
        self.proc.send_signal(sig)
        out, err = self.proc.communicate(timeout=20)
        return self.proc.returncode, out, err


@pytest.fixture
def start() -> Iterator[Any]:
    procs: list[Proc] = []

    def run(*args: str, env: dict[str, str] | None = None) -> Proc:
        p = Proc(list(args), env)
        procs.append(p)
        return p

    yield run
    for p in procs:
        if p.proc.poll() is None:
            p.proc.kill()
            p.proc.communicate(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- --ready-file --------------------------------------------------------------------------


def test_ready_file_names_the_listening_agent_and_goes_away_on_stop(
    start: Any, upstream: Upstream, tmp_path: Path
) -> None:
    ready = tmp_path / "agent.env"
    ready.write_text("NGROK_INSPECT_API_URL=http://127.0.0.1:1\n")  # left by an earlier run
    agent = start("agent", upstream.url, "--web-addr", "127.0.0.1:0", "--ready-file", str(ready))
    agent.read_until("Press Ctrl-C")  # printed once the ready file is in place
    values = dict(line.split("=", 1) for line in ready.read_text().splitlines())
    assert values["NGROK_INSPECT_API_URL"] == agent.api_url
    tunnel = agent.line("Tunnel ").split()[2]
    assert values["NGROK_INSPECT_PUBLIC_URL"] == tunnel
    assert requests.post(tunnel + "/webhook", json={}, timeout=10).status_code == 201
    listed = requests.get(values["NGROK_INSPECT_API_URL"] + "/api/requests/http", timeout=10)
    assert [e["request"]["uri"] for e in listed.json()["requests"]] == ["/webhook"]
    code, _, err = agent.stop(signal.SIGTERM)
    assert code == 0 and err.strip().endswith("Stopped.")
    assert not ready.exists()


def test_ready_file_in_a_missing_directory_is_exit_2_before_listening(tmp_path: Path) -> None:
    p = subprocess.run(
        [EXE, "agent", "--web-addr", "127.0.0.1:0", "--ready-file", str(tmp_path / "no" / "f")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert p.returncode == 2 and p.stdout == ""
    assert p.stderr.startswith(f"Error: cannot write the ready file {tmp_path / 'no' / 'f'}")


# -- the agent moved off its port -----------------------------------------------------------


def test_moved_agent_says_how_the_other_commands_find_it(start: Any, upstream: Upstream) -> None:
    # ANOTHER agent holds the port this one wants first (a free port standing in for 4040:
    # the real 4040 may be in use while the suite runs)
    with LocalAgent(upstream.url, name="other") as other:
        taken = int(other.api_url.rsplit(":", 1)[1])
        agent = start("agent", upstream.url, env={"NGROK_INSPECT_WEB_ADDR": f"127.0.0.1:{taken}"})
        agent.read_until("Press Ctrl-C")
        api = agent.api_url
        port = api.rsplit(":", 1)[1]
        assert api != other.api_url
        assert agent.line("Note: ") == (
            f"Note: port {taken} was taken, so the API is on {api}; point the other commands "
            f"at it with --api-url {port}, or NGROK_INSPECT_API_URL={api}"
        )
        # what the note says works, and reaches this agent, not the other one
        p = subprocess.run(
            [EXE, "--api-url", port, "status", "--json"], capture_output=True, text=True, timeout=30
        )
        assert p.returncode == 0, p.stderr
        assert '"command_line"' in p.stdout and '"other"' not in p.stdout
        env = {**os.environ, "NGROK_INSPECT_API_URL": api}
        p = subprocess.run(
            [EXE, "status", "--json"], capture_output=True, text=True, timeout=30, env=env
        )
        assert p.returncode == 0 and '"command_line"' in p.stdout
        assert agent.stop()[0] == 0


def test_an_agent_on_its_wanted_port_prints_no_move_note(start: Any, upstream: Upstream) -> None:
    port = free_port()
    agent = start("agent", upstream.url, "--web-addr", f"127.0.0.1:{port}")
    agent.read_until("Press Ctrl-C")
    assert agent.api_url == f"http://127.0.0.1:{port}"
    note = agent.line("Note: ")  # not 4040: the other commands still need to be told
    assert "was taken" not in note and f"--api-url {port}" in note
    agent.stop()


# -- an upstream that does not answer, and why a 502 --------------------------------------


def test_silent_upstream_warns_at_start_and_each_502_says_why(start: Any) -> None:
    port = free_port()  # nothing listens there
    agent = start("agent", str(port), "--web-addr", "127.0.0.1:0")
    banner = agent.read_until("Press Ctrl-C")
    assert (
        f"Warning: the upstream http://localhost:{port} of tunnel 'command_line' does not "
        "answer (connection refused); requests will get 502 until it listens"
    ) in banner
    tunnel = agent.line("Tunnel ").split()[2]
    r = requests.get(tunnel + "/hello", timeout=10)
    assert r.status_code == 502
    assert "connection refused" in r.text  # the error page says it too
    code, out, _ = agent.stop()
    assert code == 0
    [line] = out.splitlines()
    assert line.endswith("(upstream: cannot connect (connection refused))"), line
    assert " GET     /hello  502 Bad Gateway  " in line


def test_answering_upstream_gets_no_warning(start: Any, upstream: Upstream) -> None:
    agent = start("agent", upstream.url, "--web-addr", "127.0.0.1:0")
    banner = agent.read_until("Press Ctrl-C")
    assert not [ln for ln in banner if ln.startswith("Warning:")]
    agent.stop()


class _Rude:
    """An upstream that reads the request head, then resets or closes the connection."""

    def __init__(self, *, reset: bool, hold: bool = False) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.reset = reset
        self.hold = hold  # keep the connection open and never answer
        self.release = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                if self.hold:
                    self.release.wait(30)
                if self.reset:  # RST instead of FIN
                    conn.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )

    def close(self) -> None:
        self.release.set()
        self.sock.close()


@pytest.mark.parametrize(
    ("reset", "reason"),
    [
        (True, "(upstream: connection reset)"),
        (False, "(the upstream closed the connection without answering)"),
    ],
)
def test_the_console_line_of_a_502_says_why(start: Any, reset: bool, reason: str) -> None:
    rude = _Rude(reset=reset)
    try:
        agent = start("agent", rude.url, "--web-addr", "127.0.0.1:0")
        agent.read_until("Press Ctrl-C")
        tunnel = agent.line("Tunnel ").split()[2]
        r = requests.post(tunnel + "/hook", data=b"x", timeout=10)  # POST: never retried
        assert r.status_code == 502
        code, out, _ = agent.stop()
    finally:
        rude.close()
    assert code == 0
    [line] = out.splitlines()
    assert line.endswith(reason), line


def test_the_console_line_of_a_504_says_how_long_the_agent_waited(start: Any) -> None:
    rude = _Rude(reset=False, hold=True)
    try:
        agent = start("agent", rude.url, "--web-addr", "127.0.0.1:0", "--upstream-timeout", "0.3")
        agent.read_until("Press Ctrl-C")
        tunnel = agent.line("Tunnel ").split()[2]
        assert requests.get(tunnel + "/slow", timeout=30).status_code == 504
        code, out, _ = agent.stop()
    finally:
        rude.close()
    assert code == 0
    [line] = out.splitlines()
    assert " GET     /slow  504 Gateway Timeout  " in line
    assert line.endswith("(upstream: no answer within 0.3s)"), line


def test_reasons_and_the_api_url_argument() -> None:
    import errno

    from ngrok_inspect.cli.agent_banner import api_url_argument
    from ngrok_inspect.local_agent.reachability import os_reason, probe_upstream

    assert api_url_argument("http://127.0.0.1:4041") == "4041"
    assert api_url_argument("http://[::1]:4041") == "[::1]:4041"
    assert api_url_argument("http://localhost:4041") == "localhost:4041"
    refused = OSError(errno.ECONNREFUSED, "Connect call failed ('127.0.0.1', 9)")
    assert os_reason(refused) == "connection refused"
    assert os_reason(ConnectionResetError(errno.ECONNRESET, "Connection reset by peer")) == (
        "connection reset"
    )
    assert os_reason(socket.gaierror(-2, "Name or service not known")) == "DNS lookup failed"
    assert os_reason(TimeoutError()) == "timed out"
    assert probe_upstream(f"http://127.0.0.1:{free_port()}") == "connection refused"


# -- demo ----------------------------------------------------------------------------------


def test_demo_without_keep_ends_saying_keep_keeps_the_agent() -> None:
    p = subprocess.run([EXE, "demo"], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    last = p.stderr.rstrip().splitlines()[-1]
    assert last == (
        "The demo's agent stopped with it. To try 'requests list', 'requests show' and "
        "'replay' on this traffic, run: ngrok-inspect demo --keep"
    )


def test_demo_keep_suggests_commands_that_work_and_says_stopped_on_ctrl_c(start: Any) -> None:
    demo = start("demo", "--keep", env={"NGROK_INSPECT_WEB_ADDR": "127.0.0.1:0"})
    err = demo.read_until("Send more traffic to ")
    tries = [ln.split(": ", 1)[1] for ln in err if ln.startswith(("The agent keeps", "or: "))]
    assert len(tries) == 2
    for command in tries:  # each suggested command works against the kept agent
        argv = command.split()
        assert argv[0] == "ngrok-inspect"
        p = subprocess.run([EXE, *argv[1:]], capture_output=True, text=True, timeout=30)
        assert p.returncode == 0, (command, p.stderr)
        assert "airt_" in p.stdout
    code, _, rest = demo.stop(signal.SIGINT)
    assert code == 0
    assert rest.rstrip().endswith("Stopped.")
    assert "Interrupted" not in rest and "Traceback" not in rest
