"""The agent's quick-ACK re-arm (issue 8, "no added stall") sets the option on the very
socket it names: one ``setsockopt`` on the bare descriptor."""

from __future__ import annotations

import socket
import sys

import pytest

from ngrok_inspect.local_agent.connection import QUICKACK_FD, fd_quickack_setter

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="TCP_QUICKACK is Linux's"
)


def test_quickack_setter_sets_the_option_on_the_descriptor_it_is_given() -> None:
    quickack = fd_quickack_setter()
    assert quickack is not None and QUICKACK_FD is not None
    with (
        socket.create_server(("127.0.0.1", 0)) as server,
        socket.create_connection(server.getsockname()) as client,
    ):
        peer, _ = server.accept()
        with peer:
            for sock in (client, peer):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 0)
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 0
            assert quickack(client.fileno()) == 0  # setsockopt's return: success
            assert client.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 1
            # only the socket named: its peer keeps delayed ACKs
            assert peer.getsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK) == 0


def test_quickack_setter_on_a_closed_descriptor_fails_without_raising() -> None:
    quickack = fd_quickack_setter()
    assert quickack is not None
    sock = socket.socket()
    fd = sock.fileno()
    sock.close()
    assert quickack(fd) == -1  # EBADF, reported and not raised: the loop goes on
