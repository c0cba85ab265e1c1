"""The private parts of aiohttp, asyncio, http.client and urllib3 the transports use (kellyapi/_transport/hooks.py)
are there in the installed versions, and the libraries still use them the way the transports assume. CI runs
this on the floors and on the newest versions: a release that changes one fails here, by name."""

from __future__ import annotations

import asyncio
import http.client
import inspect
import socket
from asyncio import selector_events, sslproto

import aiohttp
import aiohttp.connector
import urllib3
from urllib3.connectionpool import HTTPConnectionPool

from kellyapi._core.network import Network
from kellyapi._transport import aiohttp as async_transport
from kellyapi._transport import urllib3 as sync_transport


def test_every_check_holds_on_the_installed_versions() -> None:
    versions = f"aiohttp {aiohttp.__version__}, urllib3 {getattr(urllib3, '__version__', '?')}"
    assert async_transport.WATCHED_CONNECTIONS, f"{versions}: TCPConnector._factory / ResponseHandler.should_close"
    assert async_transport.NO_SILENT_RESEND, f"{versions}: ClientSession._retry_connection"
    assert async_transport.DEAD_LOOP_SOCKETS, "asyncio's _SelectorTransport._call_connection_lost"
    assert sync_transport.POOL_HOOKS, f"{versions}: HTTPConnectionPool._new_conn / _get_conn"
    assert sync_transport.DEADLINE_READS, "http.client's HTTPResponse._read_status"


def test_aiohttp_makes_protocols_with_the_connector_s_factory_and_asks_should_close_on_release() -> None:
    source = inspect.getsource(aiohttp.connector)
    assert "self._factory" in source, "aiohttp no longer makes a connection's protocol with BaseConnector._factory"
    assert "protocol.should_close" in source, "aiohttp no longer reads should_close as it takes a connection back"

    async def main() -> None:
        connector = async_transport._GuardedConnector()
        try:
            assert isinstance(connector._factory(), async_transport._WatchedHandler)
        finally:
            await connector.close()

    asyncio.run(main())


def test_aiohttp_resends_a_get_on_its_own_unless_retry_connection_is_off() -> None:
    assert "self._retry_connection" in inspect.getsource(aiohttp.ClientSession._request)

    async def main() -> None:
        session = async_transport._owned_session_factory(Network())()
        try:
            assert session._retry_connection is False
        finally:
            await session.close()

    asyncio.run(main())


def test_asyncio_transports_have_what_closing_a_dead_loop_s_sockets_uses() -> None:
    selector_transport = selector_events._SelectorTransport  # type: ignore[attr-defined]
    assert callable(selector_transport._call_connection_lost)
    assert "self._sock = None" in inspect.getsource(selector_transport)
    assert "self._ssl_protocol = " in inspect.getsource(sslproto._SSLProtocolTransport.__init__)


def test_http_client_reads_each_status_line_with_read_status_from_a_socket_io() -> None:
    assert "self._read_status()" in inspect.getsource(http.client.HTTPResponse.begin)
    reader = inspect.getsource(socket.SocketIO.readinto)
    assert "self._sock.recv_into(" in reader and "self._timeout_occurred" in reader
    left, right = socket.socketpair()
    with left, right, left.makefile("rb") as file:
        assert type(file.raw) is socket.SocketIO  # the class _DeadlineSocketIO stands in for


def test_urllib3_hands_out_connections_through_get_conn_and_makes_them_with_new_conn() -> None:
    assert "self._get_conn(" in inspect.getsource(HTTPConnectionPool.urlopen)
    assert "self._new_conn()" in inspect.getsource(HTTPConnectionPool._get_conn)
    assert "response_class" in inspect.getsource(http.client.HTTPConnection.getresponse)
