"""The usage examples of the seed document (pyngrok's ``agent`` module), run as tests.

Each example below is the seed's code with its indentation restored, kept exactly as
written with ``from pyngrok import agent, ngrok``. :func:`port` changes the import lines
only (and the test checks that nothing else changed), then the code runs against a live
agent (the local agent in front of the test upstream, with real traffic; and the recorded
2.3.41 agent), found through ``NGROK_INSPECT_API_URL`` as any user's script would.

Time is the only other thing the harness controls: ``time.sleep`` is shortened by the
``SLEEP_SCALE`` parameter, and inside ``monitor_requests`` a :class:`MonitorClock` lets the
test step the ``while True`` loop a few iterations and then stops it.
"""

from __future__ import annotations

import difflib
import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.live import send_traffic

SLEEP_SCALE = 0.01  # time.sleep(s) in the examples sleeps s * SLEEP_SCALE
MONITOR_ITERATIONS = 3  # the monitor loop is stopped when it sleeps for the 3rd time

PYNGROK_IMPORT = "from pyngrok import agent, ngrok"
OUR_IMPORT = "from ngrok_inspect import agent, ngrok"

GETTING_AGENT_STATUS = """
from pyngrok import agent, ngrok

# Start a tunnel first to have an active agent
tunnel = ngrok.connect("8000")

# Get agent status
agent_status = agent.get_agent_status()
print(f"Agent status: {agent_status.status}")
print(f"Agent version: {agent_status.agent_version}")
print(f"Agent URI: {agent_status.uri}")

# Access raw agent data
print(f"Session info: {agent_status.session}")
"""

LISTING_CAPTURED_REQUESTS = """
from pyngrok import agent, ngrok
import requests
import time

# Create a tunnel
tunnel = ngrok.connect("8000")
print(f"Send requests to: {tunnel.public_url}")

# Make some HTTP requests to generate captured data
# (In real usage, external services would make these requests)
time.sleep(1) # Allow tunnel to be ready

# Get all captured requests
all_requests = agent.get_requests()
print(f"Total requests captured: {len(all_requests)}")

for req in all_requests[-5:]: # Last 5 requests
    print(f"Request ID: {req.id}")
    print(f"From: {req.remote_addr}")
    print(f"Method: {req.request.get('method', 'Unknown')}")
    print(f"Path: {req.request.get('uri', 'Unknown')}")
    print(f"Duration: {req.duration}ms")
    print("---")

# Get requests for specific tunnel
tunnel_requests = agent.get_requests(tunnel_name=tunnel.name)
print(f"Requests for {tunnel.name}: {len(tunnel_requests)}")
"""

GETTING_SPECIFIC_REQUEST = """
from pyngrok import agent, ngrok

# Create tunnel and get some requests
tunnel = ngrok.connect("8000")
requests_list = agent.get_requests()

if requests_list:
    # Get detailed info for first request
    request_id = requests_list[0].id
    detailed_request = agent.get_request(request_id)

    print(f"Request ID: {detailed_request.id}")
    print(f"Tunnel: {detailed_request.tunnel_name}")
    print(f"Start time: {detailed_request.start}")
    print(f"Duration: {detailed_request.duration}ms")

    # Access detailed request information
    request_info = detailed_request.request
    print(f"Method: {request_info.get('method')}")
    print(f"URI: {request_info.get('uri')}")
    print(f"Headers: {request_info.get('headers', {})}")

    # Access response information
    response_info = detailed_request.response
    if response_info:
        print(f"Status: {response_info.get('status')}")
        print(f"Response headers: {response_info.get('headers', {})}")
"""

REPLAYING_REQUESTS = """
from pyngrok import agent, ngrok

# Create tunnels
tunnel1 = ngrok.connect("8000")
tunnel2 = ngrok.connect("9000")

# Get captured requests
requests_list = agent.get_requests()

if requests_list:
    request_id = requests_list[0].id

    # Replay through original tunnel
    print(f"Replaying request {request_id} through original tunnel")
    agent.replay_request(request_id)

    # Replay through different tunnel
    print(f"Replaying request {request_id} through {tunnel2.name}")
    agent.replay_request(request_id, tunnel_name=tunnel2.name)
"""

CLEARING_REQUEST_HISTORY = """
from pyngrok import agent, ngrok

# Create tunnel and generate some requests
tunnel = ngrok.connect("8000")

# Check current request count
requests_before = agent.get_requests()
print(f"Requests before cleanup: {len(requests_before)}")

# Clear all request history
agent.delete_requests()

# Verify cleanup
requests_after = agent.get_requests()
print(f"Requests after cleanup: {len(requests_after)}") # Should be 0
"""

ADVANCED_REQUEST_ANALYSIS = """
from pyngrok import agent, ngrok
from collections import Counter
import json

# Create tunnel for analysis
tunnel = ngrok.connect("8000")
print(f"Analyze requests at: {tunnel.public_url}")

# Wait for some requests to be made...
# Then analyze the captured data

requests_list = agent.get_requests()

# Analyze request patterns
if requests_list:
    # Count requests by method
    methods = [req.request.get('method', 'Unknown') for req in requests_list]
    method_counts = Counter(methods)
    print(f"Request methods: {dict(method_counts)}")

    # Count requests by path
    paths = [req.request.get('uri', 'Unknown') for req in requests_list]
    path_counts = Counter(paths)
    print(f"Popular paths: {dict(path_counts)}")

    # Analyze response times
    durations = [req.duration for req in requests_list if req.duration]
    if durations:
        avg_duration = sum(durations) / len(durations)
        max_duration = max(durations)
        print(f"Average response time: {avg_duration:.2f}ms")
        print(f"Max response time: {max_duration}ms")

    # Find errors
    error_requests = []
    for req in requests_list:
        if req.response:
            status = req.response.get('status', 0)
            if status >= 400:
                error_requests.append(req)

    print(f"Error requests: {len(error_requests)}")
    for error_req in error_requests[-3:]: # Last 3 errors
        status = error_req.response.get('status')
        path = error_req.request.get('uri')
        print(f" {status} error on {path}")

# Export request data for external analysis
def export_requests_to_json(filename):
    requests_list = agent.get_requests()
    export_data = []
    for req in requests_list:
        export_data.append({
            'id': req.id,
            'tunnel_name': req.tunnel_name,
            'remote_addr': req.remote_addr,
            'start': req.start,
            'duration': req.duration,
            'request': req.request,
            'response': req.response
        })

    with open(filename, 'w') as f:
        json.dump(export_data, f, indent=2)
    print(f"Exported {len(export_data)} requests to {filename}")

# Export current requests
export_requests_to_json("ngrok_requests.json")
"""

MONITORING_AND_ALERTING = '''
from pyngrok import agent, ngrok
import time
import threading

def monitor_requests(tunnel_name, alert_threshold=10):
    """Monitor request rate and alert on high traffic"""
    last_count = 0

    while True:
        current_requests = agent.get_requests(tunnel_name=tunnel_name)
        current_count = len(current_requests)

        requests_per_minute = current_count - last_count
        if requests_per_minute > alert_threshold:
            print(f"ALERT: High traffic detected! {requests_per_minute} requests/minute")

            # Analyze recent requests
            recent_requests = current_requests[-requests_per_minute:]
            error_count = sum(1 for req in recent_requests
                              if req.response and req.response.get('status', 0) >= 400)
            print(f" Error rate: {error_count}/{requests_per_minute}")

        last_count = current_count
        time.sleep(60) # Check every minute

# Start tunnel and monitoring
tunnel = ngrok.connect("8000")
monitor_thread = threading.Thread(
    target=monitor_requests,
    args=(tunnel.name, 5), # Alert if >5 requests/minute
    daemon=True
)
monitor_thread.start()

print(f"Monitoring traffic to {tunnel.public_url}")
print("Send requests to trigger monitoring...")
'''

EXAMPLES = {
    "getting_agent_status": GETTING_AGENT_STATUS,
    "listing_captured_requests": LISTING_CAPTURED_REQUESTS,
    "getting_specific_request": GETTING_SPECIFIC_REQUEST,
    "replaying_requests": REPLAYING_REQUESTS,
    "clearing_request_history": CLEARING_REQUEST_HISTORY,
    "advanced_request_analysis": ADVANCED_REQUEST_ANALYSIS,
    "monitoring_and_alerting": MONITORING_AND_ALERTING,
}


def port(source: str) -> str:
    """The seed example with its pyngrok import line replaced, and nothing else."""
    ported = source.replace(PYNGROK_IMPORT, OUR_IMPORT)
    changed = [
        line
        for line in difflib.unified_diff(source.splitlines(), ported.splitlines(), lineterm="")
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]
    assert changed == [f"-{PYNGROK_IMPORT}", f"+{OUR_IMPORT}"]
    return ported


class StopMonitor(BaseException):
    """Raised from the monitor's sleep to end its ``while True`` loop."""


class MonitorClock:
    """Controls ``time.sleep`` calls made from inside ``monitor_requests``.

    Each such call signals ``asleep`` and blocks until the test calls :meth:`tick`; on the
    ``MONITOR_ITERATIONS``-th call it raises :class:`StopMonitor` instead. Every other
    ``time.sleep`` call sleeps ``seconds * SLEEP_SCALE``.
    """

    def __init__(self, real_sleep: Callable[[float], None]) -> None:
        self.real_sleep = real_sleep
        self.calls = 0
        self.asleep = threading.Semaphore(0)
        self.wake = threading.Semaphore(0)
        self.requested: list[float] = []

    def sleep(self, seconds: float) -> None:
        import sys

        caller = sys._getframe(1).f_code.co_name
        if caller != "monitor_requests":
            self.real_sleep(seconds * SLEEP_SCALE)
            return
        self.requested.append(seconds)
        self.calls += 1
        if self.calls >= MONITOR_ITERATIONS:
            raise StopMonitor
        self.asleep.release()
        if not self.wake.acquire(timeout=30):
            raise StopMonitor

    def wait_asleep(self) -> None:
        assert self.asleep.acquire(timeout=30), "monitor loop did not reach its sleep"

    def tick(self) -> None:
        self.wake.release()


@dataclass
class Backend:
    """A live agent for the examples: its API URL and a way to send it real traffic."""

    api_url: str
    send_traffic: Callable[[str], Any]  # public_url -> sends the fixture README's traffic
    public_url: str  # the tunnel in front of the test upstream
    records_upstream_errors: bool  # traffic to a tunnel with no upstream is recorded (502)


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.fixture(params=["local_agent", "recorded_agent"])
def backend(request: pytest.FixtureRequest) -> Backend:
    """The live local agent in front of the test upstream (traffic sent by each test), or
    the recorded 2.3.41 agent (its traffic is already captured)."""
    if request.param == "recorded_agent":
        fixture_agent = request.getfixturevalue("fixture_agent")
        return Backend(fixture_agent.url, lambda url: None, "http://127.0.0.1:8080", False)
    local_agent = request.getfixturevalue("local_agent")
    # The seed hard-codes ngrok.connect("8000"): traffic sent to that tunnel is recorded as
    # 502 only when nothing listens on 127.0.0.1:8000 (the usual case on a test machine).
    return Backend(
        local_agent.api_url, send_traffic, local_agent.tunnels[0].public_url, _port_free(8000)
    )


@pytest.fixture
def run(
    backend: Backend,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> Iterator[Callable[[str], tuple[dict[str, Any], str]]]:
    """``run(name)`` execs a ported example; returns its globals and what it printed."""
    monkeypatch.setenv("NGROK_INSPECT_API_URL", backend.api_url)
    monkeypatch.chdir(tmp_path)
    clock = MonitorClock(time.sleep)
    monkeypatch.setattr(time, "sleep", clock.sleep)

    def run_example(name: str) -> tuple[dict[str, Any], str]:
        namespace: dict[str, Any] = {"__name__": f"seed_example_{name}", "_clock": clock}
        capsys.readouterr()
        exec(compile(port(EXAMPLES[name]), f"<seed:{name}>", "exec"), namespace)
        return namespace, capsys.readouterr().out

    yield run_example


def test_examples_differ_from_the_seed_only_in_imports() -> None:
    for source in EXAMPLES.values():
        assert source.count(PYNGROK_IMPORT) == 1
        port(source)


def test_getting_agent_status(run: Callable[[str], tuple[dict[str, Any], str]]) -> None:
    ns, out = run("getting_agent_status")
    assert "Agent status: online\n" in out
    version = ns["agent_status"].agent_version
    assert f"Agent version: {version}\n" in out
    assert "Agent URI: /api/status\n" in out
    assert re.search(r"^Session info: \{.*\}$", out, re.M)
    assert ns["tunnel"].name.startswith("http-8000-")


def test_listing_captured_requests(
    run: Callable[[str], tuple[dict[str, Any], str]], backend: Backend
) -> None:
    backend.send_traffic(backend.public_url)
    ns, out = run("listing_captured_requests")
    all_requests = ns["all_requests"]
    assert len(all_requests) >= 12
    assert f"Total requests captured: {len(all_requests)}\n" in out
    # "Last 5 requests": the newest five, oldest of them first
    assert [r.request["uri"] for r in all_requests[-2:]] == ["/?conn=1", "/?conn=2"]
    paths = re.findall(r"^Path: (.*)$", out, re.M)
    assert paths == [r.request["uri"] for r in all_requests[-5:]]
    assert paths[-3:] == ["/items/42", "/?conn=1", "/?conn=2"]
    assert "Method: DELETE\n" in out and "From: 127.0.0.1\n" in out
    durations = [float(d) for d in re.findall(r"^Duration: ([0-9.]+)ms$", out, re.M)]
    assert durations == [r.duration for r in all_requests[-5:]] and all(d > 0 for d in durations)
    assert len(re.findall(r"^Request ID: airt_\w{27}$", out, re.M)) == 5
    # the new tunnel carried no traffic
    assert f"Requests for {ns['tunnel'].name}: 0\n" in out


def test_getting_specific_request(
    run: Callable[[str], tuple[dict[str, Any], str]], backend: Backend
) -> None:
    backend.send_traffic(backend.public_url)
    ns, out = run("getting_specific_request")
    first = ns["requests_list"][0]
    assert f"Request ID: {first.id}\n" in out
    assert "Method: GET\n" in out
    assert "URI: /search?q=hello%20world&page=2&tag=a&tag=b\n" in out
    assert "'Accept': ['application/json']" in out
    assert "Status: 200 OK\n" in out
    assert re.search(r"^Start time: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", out, re.M)
    assert ns["detailed_request"].duration == first.duration


def test_replaying_requests(
    run: Callable[[str], tuple[dict[str, Any], str]], backend: Backend
) -> None:
    backend.send_traffic(backend.public_url)
    ns, out = run("replaying_requests")
    rid = ns["request_id"]
    assert f"Replaying request {rid} through original tunnel\n" in out
    assert f"Replaying request {rid} through {ns['tunnel2'].name}\n" in out


def test_clearing_request_history(
    run: Callable[[str], tuple[dict[str, Any], str]], backend: Backend
) -> None:
    backend.send_traffic(backend.public_url)
    ns, out = run("clearing_request_history")
    before = len(ns["requests_before"])
    assert before >= 12
    assert f"Requests before cleanup: {before}\nRequests after cleanup: 0\n" in out


def test_advanced_request_analysis(
    run: Callable[[str], tuple[dict[str, Any], str]], backend: Backend, tmp_path: Path
) -> None:
    backend.send_traffic(backend.public_url)
    ns, out = run("advanced_request_analysis")
    methods = ns["method_counts"]
    assert methods["GET"] >= 8 and methods["POST"] >= 3 and methods["DELETE"] >= 1
    assert "Error requests: 2\n" in out
    assert " 404 Not Found error on /does-not-exist\n" in out
    assert " 500 Internal Server Error error on /boom\n" in out
    assert re.search(r"^Average response time: \d+\.\d\dms$", out, re.M)
    exported = json.loads((tmp_path / "ngrok_requests.json").read_text())
    assert f"Exported {len(exported)} requests to ngrok_requests.json\n" in out
    by_uri = {e["request"]["uri"]: e for e in exported}
    # json.dump wrote the agent's own values: the status string, untouched
    assert by_uri["/does-not-exist"]["response"]["status"] == "404 Not Found"
    assert by_uri["/does-not-exist"]["response"]["status_code"] == 404
    assert isinstance(by_uri["/boom"]["duration"], float)
    assert by_uri["/search?q=hello%20world&page=2&tag=a&tag=b"]["start"].startswith("20")


def test_monitoring_and_alerting(
    run: Callable[[str], tuple[dict[str, Any], str]],
    backend: Backend,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    unhandled: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: unhandled.append(args.exc_value))
    ns, out = run("monitoring_and_alerting")
    clock: MonitorClock = ns["_clock"]
    tunnel = ns["tunnel"]
    assert f"Monitoring traffic to {tunnel.public_url}\n" in out
    clock.wait_asleep()  # first check done: nothing on the new tunnel yet
    if backend.records_upstream_errors:
        backend.send_traffic(tunnel.public_url)  # 12 requests, upstream missing -> errors
    clock.tick()
    clock.wait_asleep()  # second check done
    clock.tick()  # third sleep stops the loop
    ns["monitor_thread"].join(timeout=30)
    assert not ns["monitor_thread"].is_alive()
    assert len(unhandled) == 1 and isinstance(unhandled[0], StopMonitor)
    assert clock.requested == [60] * MONITOR_ITERATIONS
    out = capsys.readouterr().out
    if backend.records_upstream_errors:
        n = len(ns["agent"].get_requests(tunnel_name=tunnel.name))
        assert n >= 12
        assert out.count("ALERT: High traffic detected!") == 1
        assert f"ALERT: High traffic detected! {n} requests/minute\n" in out
        assert re.search(rf"^ Error rate: \d+/{n}$", out, re.M)
    else:
        assert "ALERT" not in out  # the recorded agent holds no traffic for a new tunnel
