"""Bad input, each a clear exception: wrong types, closed handles, arrays
that are not contiguous, of the wrong dtype or not matching the geometry,
payloads over the maximum frame, use after close."""

import threading

import numpy as np
import pytest

import socketengine as se
from conftest import WAIT, received


@pytest.mark.parametrize("call", [
    lambda h, c: c.write(123, b"x"),
    lambda h, c: c.write("ch", 123),
    lambda h, c: c.write("ch", None),
    lambda h, c: c.write("ch", {"a": 1}),
    lambda h, c: c.write("ch", [1, 2]),
    lambda h, c: c.write_lock("ch", object()),
    lambda h, c: c.write_many([b"not a pair"]),
    lambda h, c: c.write_many([("ch",)]),
    lambda h, c: c.write_many([(1, b"x")]),
    lambda h, c: c.write_many(5),
    lambda h, c: c.write_json("ch", {1: "int key"}),
    lambda h, c: c.write_json("ch", {b"bytes"}),
    lambda h, c: se.Json(object()),
    lambda h, c: c.get(5),
    lambda h, c: c.get_all_timeout("ch", "soon"),
    lambda h, c: c.subscribe(None),
    lambda h, c: h.to(3.5),
    lambda h, c: h.to(),
    lambda h, c: h.to("a", room="b"),
    lambda h, c: h.to([1, "mixed"]),
    lambda h, c: h.on("ch", "not callable"),
    lambda h, c: h.on_request("ch", 5),
    lambda h, c: h.join("not an id", "room"),
    lambda h, c: c.request("ch", 123),
    lambda h, c: se.Host(addr=5),
    lambda h, c: se.Host("127.0.0.1:0", max_frame="big"),
    lambda h, c: se.Host("127.0.0.1:0", no_such_option=1),
    lambda h, c: se.Host("127.0.0.1:0", nodelay=1),
    lambda h, c: se.Client(h.local_addr, 7),
    lambda h, c: se.Client(h.local_addr, reconnect_backoff=1.0),
    lambda h, c: se.Image("not an array"),
])
def test_wrong_types_are_type_errors(host, client, call):
    with pytest.raises(TypeError):
        call(host, client)


@pytest.mark.parametrize("call", [
    lambda h, c: c.get_all_timeout("ch", -1.0),
    lambda h, c: c.subscribe("ch").recv(timeout=float("nan")),
    lambda h, c: se.Host("127.0.0.1:0", write_timeout=-1),
    lambda h, c: se.Host("127.0.0.1:0", relay="sideways"),
    lambda h, c: c.write_json("ch", float("nan")),
    lambda h, c: c.write_json("ch", 1 << 70),
    lambda h, c: h.to([]),
    lambda h, c: se.Image(np.zeros((2, 2), np.uint8), format="purple"),
])
def test_values_out_of_range_are_value_errors(host, client, call):
    with pytest.raises(ValueError):
        call(host, client)


def test_a_buffer_that_will_not_export_says_why(client):
    released = memoryview(b"abc")
    released.release()
    with pytest.raises(ValueError, match="released"):
        client.write("ch", released)
    with pytest.raises(ValueError, match="dtype"):  # numpy's refusal, not "not a payload"
        client.write("ch", np.zeros(3, dtype="datetime64[D]"))
    with pytest.raises(ValueError, match="Python objects"):  # its bytes would be pointers
        client.write("ch", np.array([object(), object()]))
    with pytest.raises(ValueError, match="Python objects"):  # an object field of a record
        client.write("ch", np.zeros(2, dtype=[("x", "<f8"), ("obj", "O")]))
    with pytest.raises(TypeError, match="a payload is"):  # no buffer protocol at all
        client.write("ch", object())


def test_a_record_whose_field_name_has_an_o_is_data(client):
    records = np.zeros(2, dtype=[("Omega", "<f8")])  # format T{<d:Omega:}
    assert client.write("ch", records) == 1


def test_an_infinite_timeout_is_no_limit_and_a_bad_one_a_value_error(host, client):
    inf = float("inf")
    host.on_request("ask", lambda request: b"host")
    client.on_request("ask", lambda request: b"client")
    sub = host.subscribe("y")
    client.write_lock("x", b"1")
    client.write_lock("y", b"2")
    assert [bytes(m.payload) for m in host.get_all_timeout("x", inf)] == [b"1"]
    assert sub.recv(timeout=inf).payload == b"2"
    assert client.request("ask", timeout=inf).payload == b"host"
    assert host.to(client.id).request("ask", timeout=inf).one().payload == b"client"
    assert client.wait_connected(inf)
    client.write_lock("y", b"3")
    assert next(sub.iter(inf)).payload == b"3"
    for bad in (-1.0, float("nan"), -inf):
        for call in (lambda: host.get_all_timeout("x", bad), lambda: sub.recv(timeout=bad),
                     lambda: client.request("ask", timeout=bad), lambda: host.to_all().request("ask", timeout=bad),
                     lambda: client.wait_connected(bad), lambda: sub.iter(bad)):
            with pytest.raises(ValueError, match="seconds >= 0"):
                call()


def test_a_nested_cycle_is_refused_not_followed(client):
    cycle = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="128"):
        client.write_json("ch", cycle)


def test_arrays_that_are_not_contiguous_are_refused_never_copied(client):
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    for strided in (frame[:, ::2], frame.transpose(1, 0, 2), frame[::2]):
        with pytest.raises(ValueError, match="contiguous"):
            client.write_image("cam", strided)
        with pytest.raises(ValueError, match="contiguous"):
            client.write("blob", strided)
    client.write_image("cam", np.ascontiguousarray(frame[:, ::2]))  # the copy, asked for


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16, np.uint32, np.float64])
def test_arrays_of_another_dtype_are_type_errors(client, dtype):
    with pytest.raises(TypeError, match="uint8"):
        client.write_image("cam", np.zeros((4, 4, 3), dtype=dtype))


@pytest.mark.parametrize("array, fmt", [
    (np.zeros((4, 4, 3), np.uint8), "rgba8"),
    (np.zeros((4, 4), np.uint8), "rgb8"),
    (np.zeros((4, 4), np.uint16), "gray8"),
    (np.zeros((4, 4, 2), np.uint8), None),
    (np.zeros((4, 4, 3, 1), np.uint8), None),
    (np.zeros(16, np.uint8), None),
    (np.zeros((4, 4, 3), np.uint16), None),
])
def test_arrays_that_do_not_match_their_format_are_value_errors(client, array, fmt):
    with pytest.raises(ValueError):
        client.write_image("cam", array, format=fmt)


def test_bytes_that_do_not_fit_the_geometry_are_image_errors(client):
    with pytest.raises(se.ImageError, match="does not fit"):
        se.Image.from_bytes(b"\0" * 10, 4, 4, "rgb8")
    with pytest.raises(se.ImageError):
        se.Image.from_bytes(b"\0" * 48, 4, 4, "rgb8", stride=5)  # shorter than a row
    with pytest.raises(se.ImageError):
        se.Image.from_bytes(b"", 4, 4, "jpeg")


def test_a_payload_over_the_maximum_frame_is_refused_and_handed_back(host):
    with se.Client(host.local_addr, max_frame=1024) as small:
        big = bytes(range(256)) * 8
        with pytest.raises(se.FrameTooLargeError) as caught:
            small.write("big", big)
        assert caught.value.payload == big and caught.value.max == 1024
        assert caught.value.len > 1024
        with pytest.raises(se.FrameTooLargeError):
            small.write_image_lock("cam", np.zeros((32, 32, 3), np.uint8))
        small.write_lock("fits", big[:512])


def test_invalid_channels_and_targets_are_typed(host, client):
    with pytest.raises(se.InvalidChannelError) as caught:
        client.write("", b"x")
    assert isinstance(caught.value, ValueError) and caught.value.payload == b"x"
    with pytest.raises(se.InvalidChannelError):
        client.write("arm/*", b"x")
    with pytest.raises(se.UnknownClientError) as caught:
        host.to(999).write("ch", b"x")
    assert caught.value.client == 999
    with pytest.raises(se.UnknownNameError):
        host.to("nobody").write_lock("ch", b"x")
    with pytest.raises(se.UnsupportedError):
        host.to_host().write("ch", b"x")


def test_a_write_many_failure_says_how_many_went(host, client):
    with pytest.raises(se.InvalidChannelError) as caught:
        client.write_many([("ok", b"1"), ("ok", b"2"), ("", b"3"), ("ok", b"4")])
    assert caught.value.written == 2
    # The two before it went, the one after it did not: every item checked,
    # up to a marker sent after the batch on the same channel.
    client.write_lock("ok", b"end")
    assert [bytes(m.payload) for m in received(host, "ok", 3)] == [b"1", b"2", b"end"]


def test_a_closed_handle_refuses_writes_and_ends_reads(host, client):
    client.write_lock("pose", b"last")
    assert host.get_all_timeout("pose", WAIT)[0].payload == b"last"
    sub = client.subscribe("cmd")
    client.close()
    client.close()  # idempotent
    with pytest.raises(se.ClosedError) as caught:
        client.write("pose", b"after")
    assert caught.value.payload == b"after"
    for call in (lambda: client.write_lock("pose", b"x"), lambda: client.request("t", timeout=WAIT),
                 lambda: client.on("pose", print), lambda: client.write_image("cam", np.zeros((2, 2), np.uint8))):
        with pytest.raises(se.ClosedError):
            call()
    assert client.get_all_timeout("cmd", 30.0) == []  # at once, not after 30 s
    with pytest.raises(se.ClosedError):
        sub.recv(timeout=30.0)
    drained = []
    reader = threading.Thread(target=lambda: drained.append(list(sub)), daemon=True)
    reader.start()
    reader.join(WAIT)  # bounded: a hang fails here instead of stalling the run
    assert drained == [[]]
    assert client.closed and client.get("nothing") is None
    host.close()
    with pytest.raises(se.ClosedError):
        host.write("pose", b"x")
    assert host.get("pose").payload == b"last"  # what was stored stays readable


def test_connecting_to_nothing_is_a_connection_error():
    with se.Host("127.0.0.1:0") as host:
        addr = host.local_addr
    with pytest.raises(se.ConnectError) as caught:
        se.Client(addr, connect_timeout=WAIT)
    assert isinstance(caught.value, ConnectionError) and caught.value.addr == addr


def test_a_taken_address_is_addr_in_use(host):
    with pytest.raises(se.AddrInUseError):
        se.Host(host.local_addr)
