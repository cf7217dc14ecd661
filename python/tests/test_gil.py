"""The GIL: blocking calls release it (another Python thread runs while one
blocks), and Ctrl-C interrupts them.

Each test would fail, not hang, without the behaviour it checks: the thread
that unblocks the wait is pure Python and needs the GIL, and every wait is
bounded."""

import threading
import time

import pytest

import socketengine as se
from conftest import WAIT, in_call, interrupt_main_in_call, when_main_is_in_call

# A blocking call the tests interrupt waits this long at most.
LONG = 30.0


def run_python_then(action, rounds=20_000):
    """A thread that waits (bounded) until the main thread is inside
    `in_call`, then runs Python bytecode (it needs the GIL), then `action`;
    if it never sees the main thread there, it does nothing (and the main
    thread's wait times out: the test fails)."""
    progress = []

    def work():
        total = 0
        for i in range(rounds):
            total += i
        progress.append(total)
        action()

    thread, _ = when_main_is_in_call(work)
    return thread, progress


def test_another_thread_runs_while_get_all_timeout_blocks(host, client):
    thread, progress = run_python_then(lambda: client.write_lock("wake", b"up"))
    got = in_call(host.get_all_timeout, "wake", LONG)
    thread.join(WAIT)
    assert progress and [bytes(m.payload) for m in got] == [b"up"]


def test_another_thread_runs_while_a_subscription_blocks(host, client):
    sub = client.subscribe("cmd")
    thread, progress = run_python_then(lambda: host.write_lock("cmd", b"go"))
    msg = in_call(sub.recv, LONG)
    thread.join(WAIT)
    assert progress and msg.payload == b"go"


def test_a_python_responder_runs_while_its_requester_blocks(host, client):
    # The responder runs on the host's dispatcher thread and needs the GIL,
    # which the requesting thread holds unless its wait releases it.
    host.on_request("add", lambda req: str(sum(req.json())))
    assert client.request("add", se.Json([1, 2, 3]), timeout=LONG).payload == b"6"


@pytest.mark.parametrize("timeout", [LONG, float("inf")])
def test_ctrl_c_interrupts_get_all_timeout(host, timeout):
    # With no limit, closing the handle ends the wait if no signal came.
    thread, done = interrupt_main_in_call(otherwise=host.close)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_call(host.get_all_timeout, "never", timeout)
    done.set()
    thread.join(WAIT)
    # Interrupted, not returned at its timeout (then raised).
    assert time.monotonic() - start < LONG / 2


def test_ctrl_c_interrupts_a_subscription(host):
    sub = host.subscribe("never")
    thread, done = interrupt_main_in_call()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_call(sub.recv, LONG)
    done.set()
    thread.join(WAIT)
    assert time.monotonic() - start < LONG / 2


@pytest.mark.parametrize("timeout", [LONG, float("inf")])
def test_ctrl_c_interrupts_a_request(host, client, timeout):
    release = threading.Event()
    host.on_request("slow", lambda req: release.wait(LONG) and b"late")
    # With no limit, the responder answers if no signal came.
    thread, done = interrupt_main_in_call(otherwise=release.set)
    start = time.monotonic()
    try:
        with pytest.raises(KeyboardInterrupt):
            in_call(client.request, "slow", b"", timeout)
        done.set()
        thread.join(WAIT)
        assert time.monotonic() - start < LONG / 2
    finally:  # else closing the handles waits for the responder
        done.set()
        release.set()


def test_closing_a_handle_ends_a_wait_in_another_thread(host, client):
    results = []
    thread = threading.Thread(target=lambda: results.append(client.get_all_timeout("never", LONG)))
    thread.start()
    client.close()
    thread.join(WAIT)
    assert not thread.is_alive() and results == [[]]


def test_dropping_a_handle_ends_a_subscription_blocked_in_another_thread(host):
    client = se.Client(host.local_addr, "short-lived")
    sub = client.subscribe("never")
    outcome = []

    def block():
        try:
            outcome.append(sub.recv(timeout=LONG))
        except se.ClosedError as err:
            outcome.append(err)

    thread = threading.Thread(target=block)
    thread.start()
    del client  # the last reference: the handle closes as it goes
    thread.join(WAIT)
    assert not thread.is_alive()
    assert len(outcome) == 1 and isinstance(outcome[0], se.ClosedError)
