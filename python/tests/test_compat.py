"""`socketengine.compat`: a program written for the seed's names (host /
client, start, get, get_ALL, write..., writeImg...) runs over this engine.

Every wait is bounded: the tests wait on the engine's own blocking reads
(`native.get_all_timeout`), never by sleeping.
"""

import numpy as np
import pytest

import socketengine as se
from socketengine.compat import client, host

from conftest import WAIT


def arrived(peer, channel, count=1):
    """Waits (at most WAIT each) until `count` messages came on `channel`."""
    got = 0
    while got < count:
        batch = peer.native.get_all_timeout(channel, WAIT)
        assert batch, f"only {got} of {count} messages on {channel!r}"
        got += len(batch)


@pytest.fixture
def seed_host():
    h = host(port=0)
    h.start()
    yield h
    h.close()


@pytest.fixture
def seed_client(seed_host):
    c = client(port=seed_host.port)
    c.start()
    yield c
    c.close()


def test_nothing_yet_is_none_and_empty_list(seed_host, seed_client):
    assert seed_client.get("test") is None
    assert seed_host.get_ALL("test") == []


def test_values_travel_as_json_and_come_back_as_written(seed_host, seed_client):
    values = ["client is connected!", 42, 2.5, True, None, [1, "a"], {"pose": [0.1, 0.2]}]
    for value in values:
        seed_client.write("value", value)
        arrived(seed_host, "value")
        assert seed_host.get_ALL("value") == [value]


def test_get_all_is_the_newest_from_each_client(seed_host, seed_client):
    with client(port=seed_host.port) as other:
        seed_client.writeLock("pose", "first")
        seed_client.writeLock("pose", "second")
        other.writeLock("pose", "other")
        arrived(seed_host, "pose", 3)
        assert sorted(seed_host.get_ALL("pose")) == ["other", "second"]
        assert len(seed_host.getClients()) == 2


def test_host_writes_reach_every_client(seed_host, seed_client):
    with client(port=seed_host.port) as other:
        seed_host.write_ALL("cmd", {"go": True}).writeLock_ALL("mode", "auto")
        for c in (seed_client, other):
            arrived(c, "mode")
            assert c.get("cmd") == {"go": True}
            assert c.get("mode") == "auto"


def test_bytes_travel_as_bytes(seed_host, seed_client):
    seed_client.writeLock("raw", b"\x00\xffbytes")
    arrived(seed_host, "raw")
    assert seed_host.get_ALL("raw") == [b"\x00\xffbytes"]


def test_images_arrive_as_numpy_arrays(seed_host, seed_client):
    frame = np.arange(48 * 64 * 3, dtype=np.uint8).reshape(48, 64, 3)
    seed_client.writeImgLock(frame)
    arrived(seed_host, "image")
    (got,) = seed_host.get_ALL("image")
    assert isinstance(got, np.ndarray) and got.shape == (48, 64, 3)
    assert np.array_equal(got, frame)

    gray = np.full((8, 16), 7, dtype=np.uint8)
    seed_host.writeImgLock_ALL(gray)
    arrived(seed_client, "image")
    assert np.array_equal(seed_client.get("image"), gray)


def test_unlocked_image_writes_deliver_the_newest(seed_host, seed_client):
    frames = [np.full((4, 4, 3), i, dtype=np.uint8) for i in range(3)]
    for frame in frames:
        seed_client.writeImg(frame)
    seed_client.native.flush()
    seed_client.writeLock("done", "")
    arrived(seed_host, "done")
    assert np.array_equal(seed_host.get_ALL("image")[0], frames[-1])
    seed_host.writeImg_ALL(frames[0])
    seed_host.native.flush()
    arrived(seed_client, "image")
    assert np.array_equal(seed_client.get("image"), frames[0])


def test_open_false_waits_for_start(seed_host):
    c = client(port=seed_host.port, open=False)
    assert not c.opened
    with pytest.raises(se.NotConnectedError):
        c.write("test", "x")
    c.start()
    c.start()  # the seed said "only once": here a second start does nothing
    assert c.opened
    c.writeLock("test", "late")
    arrived(seed_host, "test")
    assert seed_host.get_ALL("test") == ["late"]
    c.close()
    assert not c.opened


def test_host_listens_on_its_addr_and_reports_a_taken_port(seed_host):
    assert seed_host.native.local_addr.startswith("127.0.0.1:")
    with pytest.raises(se.AddrInUseError):
        host(port=seed_host.port)


def test_a_native_peer_interoperates(seed_host):
    with se.Client(f"127.0.0.1:{seed_host.port}", "native") as native:
        native.write_json("pose", {"x": 1})
        native.write_lock("raw", b"abc")
        arrived(seed_host, "raw")
        assert seed_host.get_ALL("pose") == [{"x": 1}]
        assert seed_host.get_ALL("raw") == [b"abc"]
