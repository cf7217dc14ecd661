"""No copies: received payloads and images are views of the buffer the
socket read into; sent arrays and buffers are written from where they are."""

import numpy as np
import pytest

import socketengine as se
from conftest import WAIT


def address(array):
    return array.__array_interface__["data"][0]


def test_a_received_image_is_shared_with_every_array_made_of_it(host, client):
    frame = np.random.default_rng(7).integers(0, 255, (1080, 1920, 3), dtype=np.uint8)
    inbox = host.subscribe("cam")
    client.write_image_lock("cam", frame)
    msg = inbox.recv(WAIT)
    image = msg.image
    first, second = np.asarray(image), np.asarray(image)
    assert np.shares_memory(first, second)
    # The array, the image, the message's payload and the latest image in the
    # store are one buffer: the one the socket read the pixels into.
    assert address(first) == image._address == msg.payload._address
    assert address(np.frombuffer(msg.payload, dtype=np.uint8)) == image._address
    assert np.asarray(host.get_image("cam"))[0, 0].tolist() == frame[0, 0].tolist()
    assert address(np.asarray(host.get_image("cam"))) == image._address
    assert memoryview(msg.payload).readonly and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1
    assert (first == frame).all()


def test_a_received_payload_is_a_view_too(host, client):
    client.write_lock("blob", bytes(range(256)) * 1024)
    msg = host.get_all_timeout("blob", WAIT)[0]
    view = memoryview(msg.payload)
    assert view.nbytes == 256 * 1024 and view.format == "B"
    assert address(np.frombuffer(view, dtype=np.uint8)) == msg.payload._address
    assert address(np.frombuffer(msg.payload, dtype=np.uint8)) == msg.payload._address
    with pytest.raises(TypeError):
        view[0] = 1  # read-only


def read_only(array):
    array.flags.writeable = False
    return array


@pytest.mark.parametrize("make", [
    lambda: read_only(np.zeros((480, 640, 3), dtype=np.uint8)),
    lambda: memoryview(bytearray(640 * 480 * 3)).toreadonly(),
    lambda: bytes(640 * 480 * 3),
])
def test_a_sent_read_only_buffer_is_lent_not_copied(host, client, make):
    data = make()
    expected = address(np.frombuffer(data, dtype=np.uint8))
    client.write_lock("big", data)
    # The `Bytes` the binding handed the engine starts at the caller's memory.
    assert se._native._last_lent_address() == expected
    assert host.get_all_timeout("big", WAIT)[0].payload == data


def test_the_engine_sends_a_read_only_buffer_from_the_callers_memory():
    # `_last_lent_address` shows what the binding hands the engine; this
    # shows the engine sent from it: the array is changed after the write
    # returned (breaking, on purpose, the rule of a lent buffer), and what
    # a client connecting later receives is the changed array. A latched
    # value is kept as written (the same `Bytes`, no copy) and sent to each
    # new client. (Up to 4 KiB the engine copies the payload beside its
    # header instead: one buffer to write is cheaper.)
    base = np.zeros(64 << 10, dtype=np.uint8)
    lent = read_only(base.view())
    with se.Host("127.0.0.1:0", latched=["cfg"]) as host:
        host.write("cfg", lent)
        base[:] = 7
        with se.Client(host.local_addr, "late") as late:
            got = late.get_all_timeout("cfg", WAIT)[0].payload
    assert bytes(got) == bytes([7]) * len(base)


def test_a_sent_array_becomes_an_image_over_its_own_memory(host, client):
    frame = read_only(np.full((720, 1280, 3), 9, dtype=np.uint8))
    image = se.Image(frame, seq=3)
    assert image._address == address(frame) == address(np.asarray(image))
    client.write_image_lock("cam", frame)
    assert se._native._last_lent_address() == address(frame)


def test_a_lent_read_only_view_is_pinned_while_held(host):
    data = bytearray(12)
    image = se.Image.from_bytes(memoryview(data).toreadonly(), 2, 2, "rgb8")
    with pytest.raises(BufferError):
        data.extend(b"more")  # exported: it cannot move under the engine
    del image
    data.extend(b"more")  # let go: free again


@pytest.mark.parametrize("make", [
    lambda: np.zeros((480, 640, 3), dtype=np.uint8),
    lambda: bytearray(640 * 480 * 3),
    lambda: memoryview(bytearray(640 * 480 * 3)),
])
def test_a_sent_writable_buffer_is_copied_once_when_written(host, client, make):
    data = make()
    mine = np.frombuffer(data, dtype=np.uint8)
    client.write("big", data)
    assert se._native._last_lent_address() != address(mine)
    mine[:] = 7  # at once, while the write may still be queued
    del mine
    if isinstance(data, bytearray):
        data.extend(b"more")  # not exported: free to resize at once
    got = host.get_all_timeout("big", WAIT)[0].payload
    assert len(got) == 640 * 480 * 3 and bytes(got) == bytes(640 * 480 * 3)


def test_a_latched_writable_value_is_the_one_written():
    with se.Host("127.0.0.1:0", latched=["cfg"]) as host:
        value = bytearray(b"a" * (64 << 10))  # beyond the 4 KiB copied beside a header
        host.write("cfg", value)
        value[:] = b"b" * len(value)  # after the call: neither the host nor new clients see it
        assert host.get("cfg").payload == b"a" * len(value)
        with se.Client(host.local_addr, "late") as late:
            assert late.get_all_timeout("cfg", WAIT)[0].payload == b"a" * len(value)


def in_a_segment(addr):
    """Whether `addr` lies in one of this process's shared-memory segments."""
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "/memfd:socketengine-" in line:
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return True
    return False


@pytest.mark.skipif(not __import__("sys").platform.startswith("linux"), reason="Linux only")
def test_with_shared_memory_images_a_received_array_is_the_senders_segment():
    frame = np.random.default_rng(3).integers(0, 255, (480, 640, 3), dtype=np.uint8)
    with se.Host("127.0.0.1:0", shared_memory_images=True) as host, \
            se.Client(host.local_addr, "cam", shared_memory_images=True,
                      shared_memory_answer_timeout=30.0) as client:
        inbox = host.subscribe("cam")
        # The segment is made and offered at the first image; it and the
        # next ones may go over the socket until the host's answer arrives.
        for seq in range(200):
            client.write_image_lock("cam", frame, seq=seq)
            image = inbox.recv(WAIT).image
            array = np.asarray(image)
            if in_a_segment(address(array)):
                break
        else:
            pytest.fail("no image came through shared memory")
        assert (array == frame).all() and not array.flags.writeable
        stats = client.shared_memory_stats()
        assert isinstance(stats, se.SharedMemoryStats)
        assert stats.mapped == 1 and stats.sent >= 1 and stats.fallbacks == 0, stats
        # The host sent the camera no image: it made no segment for it.
        assert host.shared_memory_stats().mapped == 0
        assert "mapped=1" in repr(stats)
