"""`Hosts`: one client side of several hosts, with writes to all of them
and their messages merged. Waits are bounded (`WAIT`)."""

import pytest

import socketengine as se
from conftest import WAIT


@pytest.fixture
def two_hosts():
    with se.Host("127.0.0.1:0") as lab, se.Host("127.0.0.1:0") as dev:
        yield lab, dev


def test_a_write_reaches_every_host(two_hosts):
    lab, dev = two_hosts
    with se.Hosts({"lab": lab.local_addr, "dev": dev.local_addr}, "pocket") as hosts:
        assert hosts.wait_connected(WAIT)
        assert sorted(hosts.keys()) == ["dev", "lab"] and len(hosts) == 2 and "lab" in hosts
        assert dict(hosts.states()) == {"lab": "connected", "dev": "connected"}
        assert hosts.write_lock("pose", b"x=1") == {"lab": None, "dev": None}
        for h in (lab, dev):
            (msg,) = h.get_all_timeout("pose", WAIT)
            assert msg.payload == b"x=1"
            assert [c.name for c in h.clients()] == ["pocket"]


def test_messages_merge_with_their_hosts_key(two_hosts):
    lab, dev = two_hosts
    with se.Hosts([lab.local_addr, dev.local_addr]) as hosts:
        assert hosts.wait_connected(WAIT)
        merged = hosts.subscribe("cmd")
        dev.write_lock("cmd", b"stop")
        key, msg = merged.recv(timeout=WAIT)
        assert (key, msg.payload) == (dev.local_addr, b"stop")
        lab.write_lock("cmd", b"go")
        assert merged.recv(timeout=WAIT)[0] == lab.local_addr
        assert hosts.get(lab.local_addr, "cmd").payload == b"go"
        assert sorted(k for k, _ in hosts.latest("cmd")) == sorted([lab.local_addr, dev.local_addr])
        assert merged.try_recv() is None


def test_add_remove_and_a_hosts_client(two_hosts):
    lab, dev = two_hosts
    with se.Hosts(name="pocket") as hosts:
        hosts.add("lab", lab.local_addr)
        with pytest.raises(se.DuplicateHostError):
            hosts.add("lab", dev.local_addr)
        assert hosts.wait_connected(WAIT)
        client = hosts.client("lab")
        assert client is hosts.client("lab") and client.name == "pocket"
        del client  # the Hosts keeps its connection open
        assert hosts.client("lab").request is not None and hosts.state("lab") == "connected"
        hosts.client("lab").write_lock("via", b"client")
        assert lab.get_all_timeout("via", WAIT)[0].payload == b"client"
        hosts.remove("lab")
        assert hosts.client("lab") is None and hosts.state("lab") is None
        with pytest.raises(se.UnknownHostError):
            hosts.remove("lab")


def test_a_host_that_is_down_holds_up_nobody(two_hosts):
    lab, _ = two_hosts
    down = se.Host("127.0.0.1:0")
    down_addr = down.local_addr
    down.close()
    with se.Hosts({"lab": lab.local_addr, "down": down_addr}) as hosts:
        assert not hosts.wait_connected(0.2)
        assert hosts.state("down") in ("connecting", "reconnecting")
        results = hosts.write_lock("pose", b"x")
        assert results["lab"] is None
        assert isinstance(results["down"], se.Error)
        assert lab.get_all_timeout("pose", WAIT)[0].payload == b"x"


def test_bad_hosts_argument_and_use_after_close(two_hosts):
    lab, _ = two_hosts
    with pytest.raises(TypeError):
        se.Hosts("127.0.0.1:1")
    with pytest.raises(TypeError):
        se.Hosts([lab.local_addr], bogus=1)
    hosts = se.Hosts([lab.local_addr])
    sub = hosts.subscribe("x")
    hosts.close()
    hosts.close()
    with pytest.raises(se.ClosedError):
        sub.recv(timeout=WAIT)
