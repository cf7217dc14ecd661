"""TLS options: `Host(tls={"cert", "key"[, "client_ca"]})` and
`Client(tls={"ca"[, "server_name", "cert", "key"]})`, over the test
certificates in `data/` (a CA, a server certificate for 127.0.0.1 and
localhost, a client certificate; made with openssl, valid until 2126)."""

from pathlib import Path

import pytest

import socketengine as se
from conftest import WAIT

DATA = Path(__file__).parent / "data"
SERVER = {"cert": DATA / "server.pem", "key": str(DATA / "server.key")}


def test_a_tls_connection_carries_messages():
    with se.Host("127.0.0.1:0", tls=SERVER) as host:
        with se.Client(host.local_addr, "secure", tls={"ca": DATA / "ca.pem"}) as client:
            client.write_lock("pose", b"over tls")
            assert host.get_all_timeout("pose", WAIT)[0].payload == b"over tls"


def test_mutual_tls_requires_a_client_certificate():
    with se.Host("127.0.0.1:0", tls={**SERVER, "client_ca": DATA / "ca.pem"}) as host:
        mine = {"ca": DATA / "ca.pem", "cert": DATA / "client.pem", "key": DATA / "client.key"}
        with se.Client(host.local_addr, "signed", tls=mine) as client:
            client.write_lock("pose", b"mutual")
            assert host.get_all_timeout("pose", WAIT)[0].payload == b"mutual"
        with pytest.raises(se.Error):
            se.Client(host.local_addr, "anonymous", tls={"ca": DATA / "ca.pem"},
                      reconnect=False, connect_timeout=WAIT)


def test_a_plain_client_does_not_reach_a_tls_host():
    with se.Host("127.0.0.1:0", tls=SERVER, handshake_timeout=1.0) as host:
        with pytest.raises(se.Error):
            se.Client(host.local_addr, "plain", reconnect=False, connect_timeout=WAIT)


def test_bad_tls_options():
    with pytest.raises(TypeError):
        se.Host("127.0.0.1:0", tls="server.pem")
    with pytest.raises(TypeError):
        se.Host("127.0.0.1:0", tls={"cert": DATA / "server.pem"})
    with pytest.raises(TypeError):
        se.Client("127.0.0.1:1", tls={"ca": DATA / "ca.pem", "bogus": 1})
    with pytest.raises(TypeError):
        se.Client("127.0.0.1:1", tls={"ca": DATA / "ca.pem", "cert": DATA / "client.pem"})
    with pytest.raises(se.TlsError):
        se.Host("127.0.0.1:0", tls={"cert": DATA / "missing.pem", "key": DATA / "server.key"})
