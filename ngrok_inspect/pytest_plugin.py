"""pytest plugin (entry point ``pytest11``): fixtures for testing webhook receivers.

Installed with ngrok-inspect, it gives every test suite:

* ``ngrok_upstream`` — the URL your receiver listens on. Override this fixture (return
  ``"http://127.0.0.1:8000"``) or mark the test ``@pytest.mark.ngrok_upstream(url)``.
* ``ngrok`` — a :class:`NgrokCapture`: a local capture agent (``LocalAgent``) started in
  front of that upstream for the test, with ``public_url`` to send traffic to and
  :meth:`NgrokCapture.wait_for` to block until the expected request went through.

Example::

    @pytest.fixture
    def ngrok_upstream(my_receiver):          # my_receiver: your app on 127.0.0.1
        return my_receiver.url

    def test_push_webhook(ngrok):
        send_github_push(to=ngrok.public_url + "/webhook")
        [req] = ngrok.wait_for(method="POST", path="/webhook",
                               where='req.json.ref == "refs/heads/main"', timeout=10)
        assert req.status_code == 204

This module must stay cheap to import (pytest loads it in every session): everything
heavy is imported inside the fixtures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.local_agent import LocalAgent
    from ngrok_inspect.models import CapturedRequest

__all__ = ["NgrokCapture"]


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``ngrok_upstream`` marker."""
    config.addinivalue_line(
        "markers",
        "ngrok_upstream(url): the upstream the 'ngrok' fixture's local agent forwards to",
    )


class NgrokCapture:
    """A running local agent for one test, and helpers to assert on what it captured."""

    def __init__(self, agent: LocalAgent, client: AgentClient) -> None:
        self.agent = agent
        self.client = client

    @property
    def api_url(self) -> str:
        """The agent API's base URL (pass it as ``--api-url`` to the CLI)."""
        return self.agent.api_url

    @property
    def public_url(self) -> str:
        """Where to send traffic: the capture proxy in front of the upstream."""
        return str(self.agent.tunnels[0].public_url)

    def requests(self, **filters: Any) -> list[CapturedRequest]:
        """Everything captured so far that matches ``filters`` (oldest first); the keyword
        arguments are those of :meth:`RequestFilter.parse` (method, path, status, where…)."""
        __tracebackhide__ = True  # a failure points at the test, not at this helper
        from ngrok_inspect.filters import RequestFilter

        flt = RequestFilter.parse(**filters)
        return flt.apply(reversed(self.client.list_requests(limit=1_000_000)))

    def wait_for(
        self,
        *,
        count: int = 1,
        timeout: float = 10.0,
        include_existing: bool = True,
        expect_status: str | None = None,
        **filters: Any,
    ) -> list[CapturedRequest]:
        """Block until ``count`` completed requests match ``filters``; return them.

        Captures made earlier in the test count too (the agent is new for each test);
        pass ``include_existing=False`` to count only what arrives from now on. On a
        timeout or an unexpected status the test fails with what was awaited, how many
        matched and what arrived instead (each request with the conditions it missed),
        with a traceback that ends in the test, not in ngrok-inspect.
        """
        __tracebackhide__ = True
        from ngrok_inspect.errors import ConditionNotMetError
        from ngrok_inspect.filters import RequestFilter
        from ngrok_inspect.watch import WaitTimeoutError, wait_for

        flt = RequestFilter.parse(**filters)
        try:
            return wait_for(
                self.client,
                flt,
                count=count,
                timeout=timeout,
                include_existing=include_existing,
                expect_status=expect_status,
                poll_interval=0.05,
            )
        except ConditionNotMetError as exc:
            lines = [exc.message]
            if isinstance(exc, WaitTimeoutError) and exc.explanation:
                lines.append(exc.explanation)
            failure = "\n".join(lines)
        # outside the except: no "during handling of the above exception" chain to show
        pytest.fail(failure)

    def clear(self) -> None:
        """Forget everything captured so far."""
        self.client.delete_requests()


def _marked_upstream(request: pytest.FixtureRequest) -> str | None:
    marker = request.node.get_closest_marker("ngrok_upstream")
    return str(marker.args[0]) if marker is not None and marker.args else None


@pytest.fixture
def ngrok_upstream(request: pytest.FixtureRequest) -> str:
    """The upstream URL (override this fixture, or use ``@pytest.mark.ngrok_upstream``)."""
    url = _marked_upstream(request)
    if url is None:
        pytest.fail(
            "the 'ngrok' fixture needs an upstream: override the 'ngrok_upstream' fixture "
            "or mark the test with @pytest.mark.ngrok_upstream('http://127.0.0.1:PORT')",
            pytrace=False,
        )
    return url


@pytest.fixture
def ngrok(request: pytest.FixtureRequest) -> Iterator[NgrokCapture]:
    """A :class:`NgrokCapture`: a local agent in front of the test's upstream: the one of
    its ``@pytest.mark.ngrok_upstream(url)`` marker, which wins over an ``ngrok_upstream``
    fixture the module or conftest overrides (that fixture is then not even set up), else
    the ``ngrok_upstream`` fixture."""
    from ngrok_inspect.client import AgentClient
    from ngrok_inspect.local_agent import LocalAgent

    upstream = _marked_upstream(request)
    if upstream is None:
        upstream = str(request.getfixturevalue("ngrok_upstream"))
    agent = LocalAgent(upstream)
    agent.start()
    client = AgentClient(agent.api_url, timeout=10.0)
    try:
        yield NgrokCapture(agent, client)
    finally:
        client.close()
        agent.stop()
