"""Same-origin only, hostile JSON and tunnel definitions: 403/400 in the error shape."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from ngrok_inspect.local_agent import LocalAgent


def api_call(agent: LocalAgent, method: str, path: str, **kwargs: Any) -> requests.Response:
    return requests.request(method, agent.api_url + path, timeout=10, **kwargs)


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000",
        "http://[::1]:5173",
        "http://evil.localhost",
        "null",
        "https://{own}",
        "http://{own}.evil.example",
    ],
)
def test_other_origins_are_refused(origin: str) -> None:
    with LocalAgent(None) as agent:
        own = agent.api_url.split("//")[1]
        r = api_call(
            agent,
            "DELETE",
            "/api/requests/http",
            headers={"Origin": origin.format(own=own)},
        )
        assert r.status_code == 403
        assert r.json()["status_code"] == 403


def test_the_own_origin_is_accepted() -> None:
    with LocalAgent(None) as agent:
        r = api_call(agent, "DELETE", "/api/requests/http", headers={"Origin": agent.api_url})
        assert r.status_code == 204


@pytest.mark.parametrize("site", ["cross-site", "same-site"])
def test_sec_fetch_site_without_origin_is_refused(site: str) -> None:
    with LocalAgent(None) as agent:
        r = api_call(agent, "GET", "/api/tunnels", headers={"Sec-Fetch-Site": site})
        assert r.status_code == 403
        assert "msg" in r.json()


@pytest.mark.parametrize(
    "body",
    [b'{"id": NaN}', b'{"id": Infinity}', b"[" * 100_000 + b"]" * 100_000, b"{not json"],
)
def test_bad_json_is_a_400_in_the_error_shape(body: bytes) -> None:
    with LocalAgent(None) as agent:
        r = api_call(
            agent,
            "POST",
            "/api/requests/http",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400
        assert r.json()["status_code"] == 400


@pytest.mark.parametrize("name", ["x" * 65, "bad\x1bname", "line\nbreak"])
def test_tunnel_names_are_validated(name: str) -> None:
    with LocalAgent(None) as agent:
        r = api_call(agent, "POST", "/api/tunnels", json={"name": name, "addr": ""})
        assert r.status_code == 400
        assert r.json()["error_code"] == 102


def test_the_number_of_tunnels_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from ngrok_inspect.local_agent import core

    # a low bound: 64 listeners would take ephemeral ports other tests reserved
    monkeypatch.setattr(core, "MAX_TUNNELS", 3)
    with LocalAgent(None) as agent:
        codes = [
            api_call(agent, "POST", "/api/tunnels", json={"name": f"t{i}", "addr": ""}).status_code
            for i in range(3)
        ]
        assert codes == [201, 201, 400]
