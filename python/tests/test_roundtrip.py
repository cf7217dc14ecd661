"""The API round trip, host and client: reading, writing, targets, rooms,
typed messages, events, context managers."""

import ctypes
import inspect
import itertools

import numpy as np
import pytest

import socketengine as se
from conftest import WAIT, received


def test_latest_and_queue_round_trip_in_order(host, client):
    for i in range(3):
        client.write("pose", f"x={i}")
    client.flush()
    msgs = received(host, "pose", 3)
    assert [bytes(m.payload) for m in msgs] == [b"x=0", b"x=1", b"x=2"]
    assert host.get("pose").payload == b"x=2"
    assert host.get("pose").payload == b"x=2"  # get does not consume
    assert host.get_all("pose") == []  # drained
    assert msgs[0].channel == "pose" and msgs[0].from_id == client.id
    assert msgs[0].encoding == "bytes" and msgs[0].age >= 0
    stats = host.channel_stats("pose")
    assert (stats.received, stats.queued) == (3, 0)
    assert "pose" in host.channels()
    assert host.get("nothing") is None and host.channel_stats("nothing") is None


def test_every_bytes_like_payload_arrives_as_sent(host, client):
    payloads = [b"bytes", bytearray(b"bytearray"), memoryview(b"memoryview"), "text",
                np.arange(4, dtype=np.uint8), b""]
    for p in payloads:
        client.write_lock("any", p)
    got = [bytes(m.payload) for m in received(host, "any", len(payloads))]
    assert got == [b"bytes", b"bytearray", b"memoryview", b"text", bytes(range(4)), b""]


def test_write_many_is_the_batch_path_and_keeps_order(host, client):
    batch = [("small", i.to_bytes(4, "little")) for i in range(500)]
    assert client.write_many(batch) == 1
    client.write_many_lock([("small", b"last")])
    msgs = received(host, "small", 501)
    assert [int.from_bytes(bytes(m.payload), "little") for m in msgs[:500]] == list(range(500))
    assert msgs[500].payload == b"last"


def test_a_host_writes_to_one_client_a_list_a_name_or_all(host, client, planner):
    arm_cmd, planner_cmd = client.subscribe("cmd"), planner.subscribe("cmd")
    assert host.to(client.id).write("cmd", b"one") == 1
    assert host.to("planner").write_lock("cmd", b"by name") == 1
    assert host.to([client.id, planner.id]).write("cmd", b"list") == 2
    assert host.to(["arm", "planner"]).write("cmd", b"names") == 2
    assert host.write_lock("cmd", b"all") == 2
    assert [bytes(arm_cmd.recv(WAIT).payload) for _ in range(4)] == [b"one", b"list", b"names", b"all"]
    assert [bytes(planner_cmd.recv(WAIT).payload) for _ in range(4)] == [b"by name", b"list", b"names", b"all"]
    assert arm_cmd.recv(timeout=0.01) is None


def test_clients_route_to_each_other_through_the_host(host, client, planner):
    inbox = planner.subscribe("chat")
    client.to("planner").write_lock("chat", b"hi")
    msg = inbox.recv(WAIT)
    assert msg.payload == b"hi" and msg.from_id == client.id
    mirrored = client.subscribe("chat")
    client.to("planner").mirror().write_lock("chat", b"both")
    assert inbox.recv(WAIT).payload == b"both" and mirrored.recv(WAIT).payload == b"both"
    assert planner.lookup("arm") == client.id and planner.lookup("nobody") is None
    assert {c.name for c in planner.clients()} == {"arm", "planner"}


def test_rooms_and_groups_are_targets(host, client, planner):
    inbox = planner.subscribe("news")
    planner.join("crew")
    # In order on the connection: once the host stored this, it took the join.
    planner.write_confirmed("sync", b"")
    host.join(client.id, "crew")
    assert planner.rooms() == ["crew"]
    assert sorted(host.members("crew")) == sorted([client.id, planner.id])
    client.to(room="crew").write_lock("news", b"room")  # the sender excepted
    assert inbox.recv(WAIT).payload == b"room"
    host.leave(client.id, "crew")
    assert host.members("crew") == [planner.id]
    planner.interest(["news", "arm/**"])
    planner.write_confirmed("sync", b"")
    assert host.to(group="arm/left").write_lock("news", b"group") == 1
    assert inbox.recv(WAIT).payload == b"group"
    with pytest.raises(se.UnknownRoomError):
        host.to(room="nobody").write("news", b"x")


def test_typed_messages_declare_their_encoding(host, client):
    client.write_json("pose", {"x": 1.5, "tags": ["a", None, True]}, lock=True)
    msg = received(host, "pose")[0]
    assert msg.encoding == "json" and msg.json() == {"x": 1.5, "tags": ["a", None, True]}
    client.write_msgpack("pose", {"x": 2, "n": [1, 2]}, lock=True)
    msg = received(host, "pose")[0]
    assert msg.encoding == "msgpack" and msg.json() == {"x": 2, "n": [1, 2]}
    assert host.get_json("pose") == {"x": 2, "n": [1, 2]}
    client.write_lock("pose", se.Json([1, "two"]))
    assert received(host, "pose")[0].json() == [1, "two"]
    client.write_lock("pose", b"not json")
    with pytest.raises(se.DecodeError) as caught:
        received(host, "pose")[0].json()
    assert caught.value.channel == "pose"
    assert host.get_json("elsewhere") is None


def test_a_received_message_is_forwarded_as_it_came(host, client, planner):
    client.write_json("pose", {"x": 1}, lock=True)
    msg = received(host, "pose")[0]
    inbox = planner.subscribe("copy")
    host.to(planner.id).write_lock("copy", msg)
    copy = inbox.recv(WAIT)
    assert copy.encoding == "json" and copy.json() == {"x": 1}


def test_images_of_every_raw_format_round_trip(host, client):
    frames = {
        "rgb8": np.random.default_rng(1).integers(0, 255, (48, 64, 3), dtype=np.uint8),
        "gray8": np.arange(48 * 64, dtype=np.uint8).reshape(48, 64),
        "gray16": np.arange(48 * 64, dtype=np.uint16).reshape(48, 64) * 7,
        "rgba8": np.ones((48, 64, 4), dtype=np.uint8),
    }
    inbox = host.subscribe("cam")
    for seq, (fmt, frame) in enumerate(frames.items()):
        client.write_image_lock("cam", frame, seq=seq)
        image = inbox.recv(WAIT).image
        assert (image.format, image.seq, image.width, image.height) == (fmt, seq, 64, 48)
        array = np.asarray(image)
        assert array.dtype == frame.dtype and array.shape == frame.shape
        assert (array == frame).all()
    bgr = frames["rgb8"]
    client.write_image_lock("cam", bgr, format="bgr8", timestamp_ns=123)
    image = inbox.recv(WAIT).image
    assert (image.format, image.timestamp_ns) == ("bgr8", 123)
    assert host.get_image("cam").format == "bgr8"
    assert host.image_stats("cam").received == 5


def test_an_image_names_its_format_by_one_of_the_typed_names():
    names = ["gray8", "gray16", "rgb8", "bgr8", "rgba8", "jpeg", "png"]  # PixelFormat in __init__.pyi
    for name in names:
        size = {"gray8": 1, "gray16": 2, "rgb8": 3, "bgr8": 3, "rgba8": 4}.get(name, 1)  # bytes per pixel
        image = se.Image.from_bytes(bytes(4 * 2 * size), 4, 2, name.upper())  # any case in
        assert image.format == name  # the typed name out
    with pytest.raises(ValueError, match="one of"):
        se.Image.from_bytes(b"", 0, 0, "unknown")


def test_host_and_client_default_to_the_crates_address():
    assert se.DEFAULT_ADDR == "127.0.0.1:8080"
    for make in (se.Host, se.Client, se.Client.start):
        assert inspect.signature(make).parameters["addr"].default == se.DEFAULT_ADDR


def test_padded_rows_and_encoded_files_keep_their_geometry(host, client):
    padded = bytes(range(10)) * 2  # 3 rgb pixels + 1 byte of padding, 2 rows
    image = se.Image.from_bytes(padded, 3, 2, "rgb8", stride=10, seq=9)
    inbox = host.subscribe(se.IMAGE_CHANNEL)
    client.write_image_lock(se.IMAGE_CHANNEL, image)
    got = inbox.recv(WAIT).image
    array = np.asarray(got)
    assert array.shape == (2, 3, 3) and array.strides == (10, 3, 1)
    assert array[1, 2].tolist() == [6, 7, 8]
    jpeg = se.Image.from_bytes(b"\xff\xd8 not really a jpeg \xff\xd9", 640, 480, "jpeg")
    client.write_image_lock(se.IMAGE_CHANNEL, jpeg)
    got = inbox.recv(WAIT).image
    assert (got.format, got.width, bytes(got.data)) == ("jpeg", 640, bytes(jpeg.data))


def test_subscriptions_iterate_and_time_out(host, client):
    sub = host.subscribe("arm/*")
    client.write_many_lock([("arm/left", b"1"), ("arm/right", b"2")])
    first_two = itertools.islice(sub.iter(timeout=WAIT), 2)
    assert [m.channel for m in first_two] == ["arm/left", "arm/right"]
    assert sub.recv(timeout=0.01) is None
    assert sub.try_recv() is None and len(sub) == 0


def test_events_report_connections_and_kicks(host):
    events = host.events()
    with se.Client(host.local_addr, "visitor") as visitor:
        connected = events.recv(WAIT)
        assert (connected.kind, connected.name, connected.client) == ("connected", "visitor", visitor.id)
        host.disconnect(visitor.id, "maintenance")
        left = events.recv(WAIT)
        assert (left.kind, left.reason, left.message) == ("disconnected", "kicked", "maintenance")


def test_confirmed_writes_and_the_handles_own_facts(host, client):
    assert client.write_confirmed("cfg", b"v1") == 1
    assert host.get("cfg").payload == b"v1"
    assert host.port == int(host.local_addr.rsplit(":", 1)[1])
    assert client.host_addr == host.local_addr and client.name == "arm" and client.is_connected
    assert [c.name for c in host.clients()] == ["arm"]
    assert host.memory_used() > 0
    assert repr(host).startswith("Host(") and "arm" in repr(client)


def test_a_context_manager_closes_its_handle():
    with se.Host("127.0.0.1:0") as host:
        addr = host.local_addr
        with se.Client(addr, reconnect=False) as client:
            assert not client.closed
        assert client.closed and not host.closed
    assert host.closed


def test_options_are_the_builders_setters(host):
    with se.Host("127.0.0.1:0", max_frame=4096, queue_capacity=2, relay="others",
                 heartbeat=None, write_timeout=1.5, latched=["cfg"], history_depth=4,
                 callback_queue_bytes=1 << 20,
                 channel_capacity={"big": 10}) as h:
        with se.Client(h.local_addr, "a", reconnect=False, connect_timeout=2.0) as a:
            for i in range(4):
                a.write("q", bytes([i]))
            a.write_confirmed("q", b"\x04")  # stored, and so the ones before
            assert [bytes(m.payload) for m in h.get_all("q")] == [b"\x03", b"\x04"]
            assert len(h.history("q")) == 4


def test_send_times_on_the_hosts_clock_and_the_connection_state(host):
    with se.Client(host.local_addr, "stamped", stamp_messages=True) as stamped:
        assert (stamped.state, stamped.last_error) == ("connected", None)
        assert abs(stamped.host_time() - host.host_time()) < 60
        stamped.write_lock("pose", b"x")
        msg = received(host, "pose")[0]
        assert msg.sent_at is not None and abs(msg.sent_at - host.host_time()) < 60
    assert stamped.state == "closed"
    with se.Client(host.local_addr, "plain") as plain:
        plain.write_lock("pose", b"y")
        assert received(host, "pose")[0].sent_at is None


def test_a_padded_image_exports_its_pixels_without_the_padding():
    padded = bytes(range(10)) * 2  # 3 rgb pixels + 1 byte of padding, 2 rows
    image = se.Image.from_bytes(padded, 3, 2, "rgb8", stride=10)
    pixels = bytes(range(9)) * 2
    assert memoryview(image).nbytes == len(pixels)
    assert bytes(image) == pixels == np.asarray(image).tobytes()
    assert memoryview(image).tobytes() == pixels
    assert bytes(se.Image.from_bytes(pixels, 3, 2, "rgb8")) == pixels



class _PyBuffer(ctypes.Structure):
    _fields_ = [("buf", ctypes.c_void_p), ("obj", ctypes.c_void_p), ("len", ctypes.c_ssize_t),
                ("itemsize", ctypes.c_ssize_t), ("readonly", ctypes.c_int), ("ndim", ctypes.c_int),
                ("format", ctypes.c_char_p), ("shape", ctypes.c_void_p), ("strides", ctypes.c_void_p),
                ("suboffsets", ctypes.c_void_p), ("internal", ctypes.c_void_p)]


def test_an_image_refuses_a_fortran_view_and_leaves_no_owner_behind():
    image = se.Image(np.zeros((2, 3, 3), dtype=np.uint8))
    view = _PyBuffer(obj=1)  # a stale value the failed export must clear
    f_contiguous = 0x0040 | 0x0008 | 0x0010 | 0x0004  # PyBUF_F_CONTIGUOUS | PyBUF_FORMAT
    get = ctypes.pythonapi.PyObject_GetBuffer
    get.argtypes = [ctypes.py_object, ctypes.POINTER(_PyBuffer), ctypes.c_int]
    with pytest.raises(BufferError):
        get(image, ctypes.byref(view), f_contiguous)
    assert view.obj is None


def test_an_empty_message_and_an_idle_reader_are_true(host, client):
    sub, events = host.subscribe("trigger"), host.events()
    assert sub and events and len(sub) == 0
    client.write_lock("trigger", b"")
    msg = sub.recv(WAIT)
    assert msg is not None and len(msg) == 0 and msg
    assert host.get("trigger")
