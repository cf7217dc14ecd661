"""`Client.start` (a client that does not wait for its host), connection
states, `wait_connected`, and the client's estimate of its host's clock."""

import hashlib
import time

import pytest

import socketengine as se
from conftest import WAIT


def free_addr():
    """An address where nothing listens (a host opened and closed)."""
    with se.Host("127.0.0.1:0") as h:
        return h.local_addr


def test_start_returns_at_once_and_connects_when_the_host_comes():
    addr = free_addr()
    client = se.Client.start(addr, "early", reconnect_backoff=(0.01, 0.05))
    try:
        assert client.state == "connecting" and not client.is_connected
        with pytest.raises(se.NotConnectedError):
            client.write("pose", b"x")
        assert client.wait_connected(0.05) is False
        assert client.clock() is None and client.host_time() is None
        with se.Host(addr) as host:
            assert client.wait_connected(WAIT) is True
            assert client.state == "connected"
            client.write_lock("pose", b"x")
            assert host.get_all_timeout("pose", WAIT)[0].payload == b"x"
    finally:
        client.close()
    assert client.state == "closed"
    with pytest.raises(se.ClosedError):
        client.wait_connected(WAIT)


def test_wait_connected_raises_a_refusal():
    digest = hashlib.sha256(b"secret").hexdigest()
    with se.Host("127.0.0.1:0", auth=f"arm token-sha256:{digest} publish=*") as host:
        client = se.Client.start(host.local_addr, "arm", credential="token:wrong")
        with pytest.raises(se.Error):
            client.wait_connected(WAIT)
        assert client.state == "refused"
        client.close()


def test_the_clock_estimate(host, client):
    clock = client.clock()
    assert clock is not None and clock.samples >= 1
    assert clock.rtt >= 0 and clock.uncertainty >= 0 and clock.age >= 0 and clock.rejected >= 0
    # One machine: one clock, so the estimate is within its uncertainty.
    assert abs(clock.offset_ns) / 1e9 <= clock.uncertainty + 1e-3
    now = time.time()
    assert clock.to_local(clock.to_host(now)) == pytest.approx(now, abs=1e-6)
    assert abs(client.host_time() - host.host_time()) < 1.0
    with pytest.raises(ValueError):
        clock.to_host(float("nan"))


def test_start_checks_its_arguments():
    with pytest.raises(TypeError):
        se.Client.start("127.0.0.1:1", nonsense=True)
    with pytest.raises(TypeError):
        se.Client.start(7)
