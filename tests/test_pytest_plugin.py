"""The pytest11 plugin: its fixtures run a real local agent for a project's own tests."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytest_plugins = ["pytester"]

# A webhook receiver a user would test: a stdlib server on 127.0.0.1.
RECEIVER = """
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class Receiver(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        event = json.loads(body or b"{}").get("event")
        self.send_response(204 if event == "push" else 422)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def receiver():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def post(url, payload, headers=None):
    import urllib.request
    req = urllib.request.Request(
        url, data=json.dumps(payload).encode(), method="POST",
        headers={"Content-Type": "application/json", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
"""


def test_fixture_override_and_wait_for(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECEIVER)
    pytester.makepyfile(
        """
        import pytest
        from conftest import post

        @pytest.fixture
        def ngrok_upstream(receiver):
            return receiver

        def test_push(ngrok):
            assert ngrok.public_url.startswith("http://127.0.0.1:")
            assert post(ngrok.public_url + "/webhook", {"event": "push", "ref": "main"},
                        {"X-GitHub-Event": "push"}) == 204
            [req] = ngrok.wait_for(method="POST", path="/webhook",
                                   header="X-GitHub-Event: push",
                                   where='req.json.ref == "main"', timeout=10)
            assert req.status_code == 204
            assert req.request.body.json == {"event": "push", "ref": "main"}
            assert [r.id for r in ngrok.requests(status="2xx")] == [req.id]

        def test_count_and_expect_status(ngrok):
            post(ngrok.public_url + "/a", {"event": "push"})
            post(ngrok.public_url + "/b", {"event": "push"})
            reqs = ngrok.wait_for(count=2, expect_status="204", timeout=10)
            assert sorted(r.path for r in reqs) == ["/a", "/b"]
            ngrok.clear()
            assert ngrok.requests() == []
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_wait_for_failure_says_what_was_awaited(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECEIVER)
    pytester.makepyfile(
        """
        import pytest
        from conftest import post

        @pytest.mark.ngrok_upstream("placeholder")
        def test_marker_is_registered():
            pass

        @pytest.fixture
        def ngrok_upstream(receiver):
            return receiver

        def test_never_comes(ngrok):
            post(ngrok.public_url + "/webhook", {"event": "ping"})
            ngrok.wait_for(method="POST", path="/webhook", status="2xx", timeout=0.5)

        def test_unexpected_status(ngrok):
            post(ngrok.public_url + "/webhook", {"event": "ping"})
            ngrok.wait_for(path="/webhook", expect_status="2xx", timeout=10)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1, failed=2)
    result.stdout.fnmatch_lines(
        [
            "*Failed: timed out after 0.5s waiting for 1 request matching "
            "method POST, status 2xx, path /webhook*: 0 matched, 1 other arrived*",
            "*Failed: request airt_* (POST /webhook) answered 422, expected 2xx*",
        ]
    )


def test_wait_for_failure_says_what_arrived_and_hides_its_frames(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeconftest(RECEIVER)
    pytester.makepyfile(
        """
        import urllib.error
        import urllib.request

        import pytest
        from conftest import post

        @pytest.fixture
        def ngrok_upstream(receiver):
            return receiver

        def test_wrong_branch(ngrok):
            post(ngrok.public_url + "/webhook", {"event": "push", "ref": "refs/heads/dev"},
                 {"X-GitHub-Event": "push"})
            try:  # misses every condition: not a near miss
                urllib.request.urlopen(ngrok.public_url + "/other", timeout=10)
            except urllib.error.HTTPError:
                pass
            ngrok.wait_for(method="POST", path="/webhook",
                           where='req.json.ref == "refs/heads/main"', timeout=0.5)
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*def test_wrong_branch(ngrok):*",
            "*ngrok.wait_for(method=*",
            "E*Failed: timed out after 0.5s waiting for 1 request matching method POST, "
            "path /webhook, where req.json.ref == *: 0 matched, 2 others arrived",
            "E*Arrived but did not match (most recent first; they matched part of the filter):",
            'E*airt_*  POST /webhook 204: req.json.ref was "refs/heads/dev" '
            '(wanted req.json.ref == "refs/heads/main")',
        ]
    )
    out = result.stdout.str()
    # the traceback ends in the test: neither the helper nor the wait loop is shown
    assert "pytest_plugin.py" not in out
    assert "wait.py" not in out
    assert "During handling" not in out
    assert " GET /other " not in out  # it matched nothing of the filter: not a near miss


def test_marker_wins_over_a_module_that_overrides_the_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECEIVER)
    pytester.makepyfile(
        """
        import threading
        from http.server import ThreadingHTTPServer

        import pytest
        from conftest import Receiver, post

        SERVER = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=SERVER.serve_forever, args=(0.05,), daemon=True).start()
        MARKED = f"http://127.0.0.1:{SERVER.server_address[1]}"
        OVERRIDE_USED = []

        @pytest.fixture
        def ngrok_upstream(receiver):
            OVERRIDE_USED.append(receiver)
            return receiver

        @pytest.mark.ngrok_upstream(MARKED)
        def test_marked(ngrok):
            assert post(ngrok.public_url + "/x", {"event": "push"}) == 204
            [req] = ngrok.wait_for(path="/x", timeout=10)
            assert req.status_code == 204
            assert OVERRIDE_USED == []

        def test_unmarked_uses_the_override(ngrok):
            assert post(ngrok.public_url + "/y", {"event": "push"}) == 204
            assert len(OVERRIDE_USED) == 1 and OVERRIDE_USED[0] != MARKED
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=2)


def test_upstream_from_marker_and_missing_upstream(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RECEIVER)
    pytester.makepyfile(
        """
        import pytest
        from conftest import post

        @pytest.fixture
        def url_holder(receiver, request):
            request.node.add_marker(pytest.mark.ngrok_upstream(receiver))

        def test_marker(url_holder, ngrok):
            assert post(ngrok.public_url + "/x", {"event": "push"}) == 204
            assert ngrok.wait_for(path="/x", timeout=10)[0].status_code == 204
            assert ngrok.api_url.startswith("http://127.0.0.1:")

        def test_missing(ngrok):
            pass
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*needs an upstream*ngrok_upstream*"])


def test_plugin_import_is_cheap_and_side_effect_free() -> None:
    code = (
        "import sys\n"
        "import ngrok_inspect.pytest_plugin\n"
        "heavy = [m for m in ('aiohttp', 'rich', 'typer', 'requests', 'ngrok_inspect.local_agent',"
        " 'ngrok_inspect.client') if m in sys.modules]\n"
        "print(heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == "[]"
    assert out.stderr == ""
