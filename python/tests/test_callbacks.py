"""Callbacks, hooks, responders and commands: Python functions the handle's
dispatcher thread calls, in order, with the GIL; what one that raises does."""

import gc
import queue
import threading
import weakref

import pytest

import socketengine as se
from conftest import WAIT, received


def test_a_callback_gets_every_message_of_its_channel_in_order(host, client):
    seen = queue.Queue()
    callback = host.on("pose", lambda msg: seen.put(bytes(msg.payload)))
    client.write_many_lock([("pose", b"1"), ("pose", b"2"), ("other", b"x")])
    assert [seen.get(timeout=WAIT) for _ in range(2)] == [b"1", b"2"]
    assert host.off(callback) and not host.off(callback)
    assert host.get("pose").payload == b"2"  # nothing taken from the store


def test_named_callbacks_and_patterns(host, client):
    seen = queue.Queue()
    host.on("arm/*", lambda msg: seen.put(("first", msg.channel)), name="log")
    host.on("arm/*", lambda msg: seen.put(("second", msg.channel)), name="log")  # replaces
    client.write_lock("arm/left", b"")
    assert seen.get(timeout=WAIT) == ("second", "arm/left")
    assert host.off_named("log") == 1
    assert host.callback_stats().registered == 0


def test_hooks_see_connections_come_and_go(host):
    seen = queue.Queue()
    host.on_connect("log", lambda event: seen.put((event.kind, event.name)))
    host.on_disconnect("log", lambda event: seen.put((event.kind, event.reason)))
    with se.Client(host.local_addr, "visitor", reconnect=False) as visitor:
        assert seen.get(timeout=WAIT) == ("connected", "visitor")
        host.disconnect(visitor.id, "bye")
        assert seen.get(timeout=WAIT) == ("disconnected", "kicked")
    events = host.events()  # hooks get copies: events() still sees them
    assert {events.recv(WAIT).kind, events.recv(WAIT).kind} == {"connected", "disconnected"}


def test_a_callback_that_raises_is_reported_and_kept(host, client, monkeypatch):
    reported = queue.Queue()
    monkeypatch.setattr("sys.unraisablehook", reported.put)
    calls = queue.Queue()

    def fragile(msg):
        calls.put(bytes(msg.payload))
        raise ValueError(f"cannot handle {bytes(msg.payload)!r}")

    host.on("pose", fragile)
    events = host.events()
    client.write_lock("pose", b"1")
    unraisable = reported.get(timeout=WAIT)
    assert isinstance(unraisable.exc_value, ValueError) and unraisable.object is fragile
    assert next_failure(events).message == "ValueError: cannot handle b'1'"
    client.write_lock("pose", b"2")  # still registered, the handle still up
    assert [calls.get(timeout=WAIT), calls.get(timeout=WAIT)] == [b"1", b"2"]
    assert reported.get(timeout=WAIT).exc_value.args == ("cannot handle b'2'",)
    assert next_failure(events).message == "ValueError: cannot handle b'2'"
    assert host.callback_stats().panicked == 2
    assert host.get("pose").payload == b"2"


def next_failure(events):
    """The next event that reports a callback's exception."""
    event = events.recv(WAIT)
    while event.kind != "callback_panicked":
        event = events.recv(WAIT)
    return event


def test_requests_to_the_host_to_clients_and_through_the_host(host, client, planner):
    host.on_request("time", lambda req: "12:00")
    client.on_request("grip", lambda req: {"grip": req.json()["how"], "from": req.from_id})
    assert planner.request("time", timeout=WAIT).payload == b"12:00"
    reply = planner.to("arm").request("grip", se.Json({"how": "open"}), timeout=WAIT).one()
    assert reply.from_id == client.id and reply.json() == {"grip": "open", "from": planner.id}
    answers = dict(host.to_all().request("grip", se.Json({"how": "spin"}), timeout=WAIT))
    assert set(answers) == {client.id, planner.id}
    assert answers[client.id].json()["grip"] == "spin"
    assert isinstance(answers[planner.id], se.NoResponderError)


def test_a_responder_refuses_with_remote_error_and_fails_with_any_other(host, client, monkeypatch):
    reported = queue.Queue()
    monkeypatch.setattr("sys.unraisablehook", reported.put)

    def grip(req):
        if req.payload == b"bad":
            raise se.RemoteError("open or close")
        raise KeyError("bug")

    host.on_request("grip", grip)
    with pytest.raises(se.RemoteError, match="open or close"):
        client.request("grip", b"bad", timeout=WAIT)
    assert reported.empty()  # a refusal on purpose is not reported
    with pytest.raises(se.RemoteError, match="KeyError: 'bug'"):
        client.request("grip", b"other", timeout=WAIT)
    assert isinstance(reported.get(timeout=WAIT).exc_value, KeyError)


def test_request_failures_are_typed(host, client):
    with pytest.raises(se.NoResponderError):
        client.request("nobody", timeout=WAIT)
    release = threading.Event()
    host.on_request("slow", lambda req: release.wait(WAIT) and None)
    try:
        with pytest.raises(se.TimedOutError) as caught:
            client.request("slow", timeout=0.05)
        assert caught.value.timeout == pytest.approx(0.05)
    finally:
        release.set()
    replies = host.to_all().request("nothing", timeout=WAIT)
    assert len(replies) == 1
    client_id, answer = next(replies)
    assert client_id == client.id and isinstance(answer, se.NoResponderError)
    assert len(replies) == 0 and list(replies) == []


def test_commands_run_by_name(host, client):
    client.on_command("move", lambda steps, speed=1: steps * speed)
    reply = host.to("arm").request(se.COMMAND_CHANNEL, se.Json({"name": "move", "args": [3], "kwargs": {"speed": 2}}), timeout=WAIT).one()
    assert reply.json() == 6
    with pytest.raises(se.UnknownCommandError):
        host.to("arm").request(se.COMMAND_CHANNEL, se.Json({"name": "dance"}), timeout=WAIT).one()


def test_a_handle_its_own_callbacks_refer_to_is_collected_and_closed(host):
    def cyclic():
        h = se.Host("127.0.0.1:0")
        h.on("x", lambda msg: h.write("y", msg.payload))
        h.on_connect("log", lambda event: h.write("hello", b""))
        h.on_request("ask", lambda request: str(h.port))
        h.on_command("port", lambda: h.port)
        c = se.Client(host.local_addr, "loop")
        c.on("x", lambda msg: c.write("y", msg.payload))
        c.on_reconnect("log", lambda event: c.write("back", b""))
        t = se.Host("127.0.0.1:0")
        to_all = t.to_all()  # the callback refers to a target, not the handle
        t.on("x", lambda msg: to_all.write("y", msg.payload))
        return weakref.ref(h), weakref.ref(c), weakref.ref(t), h.port

    h, c, t, port = cyclic()
    gc.collect()
    assert h() is None and c() is None and t() is None
    with se.Host(f"127.0.0.1:{port}") as again:  # the port is free: the host was closed
        assert again.port == port
    assert "disconnected" in (event.kind for event in host.events().iter(WAIT))  # the client was closed


def test_a_target_in_use_keeps_its_handle_and_its_callbacks():
    def made():
        h = se.Host("127.0.0.1:0")
        h.on("x", lambda msg: h.write("echo", msg.payload))  # a cycle through h
        return h.local_addr, h.to_all(), weakref.ref(h)  # only the target is kept

    addr, target, handle = made()
    gc.collect()  # the target holds the handle: nothing to collect
    with se.Client(addr, "c") as c:
        c.write_lock("x", b"after")
        assert [bytes(m.payload) for m in received(c, "echo")] == [b"after"]
        target.write_lock("y", b"z")
        assert bytes(received(c, "y")[0].payload) == b"z"
    del target
    gc.collect()
    assert handle() is None  # now the handle goes


def test_a_collection_keeps_the_callbacks_of_a_handle_in_use(host, client):
    seen = queue.Queue()
    host.on("x", lambda msg: seen.put(host.port))
    host.on_request("ask", lambda request: str(host.port))
    gc.collect()
    client.write_lock("x", b"")
    assert seen.get(timeout=WAIT) == host.port
    assert client.request("ask", timeout=WAIT).payload == str(host.port).encode()


def test_the_dispatcher_thread_keeps_one_python_thread_state(host, client):
    # threading.local() lives in the thread state: one per call would
    # forget it between calls. Closing the handle ends the thread and
    # releases its thread state, and with it the thread's locals.
    local = threading.local()
    seen = queue.Queue()
    kept = []

    class Marker:
        pass

    def callback(msg):
        seen.put((getattr(local, "last", None), threading.get_ident()))
        local.last = bytes(msg.payload)
        if not kept:
            local.marker = Marker()
            kept.append(weakref.ref(local.marker))

    host.on("x", callback)
    client.write_many_lock([("x", b"1"), ("x", b"2"), ("x", b"3")])
    calls = [seen.get(timeout=WAIT) for _ in range(3)]
    assert [last for last, _ in calls] == [None, b"1", b"2"]
    assert len({thread for _, thread in calls}) == 1
    assert kept[0]() is not None
    host.close()
    assert kept[0]() is None
