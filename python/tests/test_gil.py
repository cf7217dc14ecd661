"""The GIL: blocking calls release it (another Python thread runs while one
blocks), and Ctrl-C interrupts them.

Each test would fail, not hang, without the behaviour it checks: the thread
that unblocks the wait is pure Python and needs the GIL, and every wait is
bounded."""

import dis
import signal
import sys
import threading
import time

import pytest

import socketengine as se
from conftest import WAIT, needs_sigint

# A blocking call the tests interrupt waits this long at most.
LONG = 30.0


def in_call(function, *args):
    """Calls `function`: a frame whose presence on top of the main thread's
    stack, at its call instruction, shows the main thread inside it."""
    return function(*args)


def main_is_in_call():
    """Whether the main thread is inside `in_call`'s call (seeing its stack
    needs the GIL: only a wait that released it lets this run then)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None or frame.f_code is not in_call.__code__:
        return False
    at = [i for i in dis.get_instructions(frame.f_code) if i.offset == frame.f_lasti]
    return bool(at) and at[0].opname.startswith("CALL")


def run_python_then(action, rounds=20_000):
    """A thread that waits (bounded) until the main thread is inside
    `in_call`, then runs Python bytecode (it needs the GIL), then `action`;
    if it never sees the main thread there, it does nothing (and the main
    thread's wait times out: the test fails)."""
    progress = []
    pause = threading.Event()  # never set: a wait that gives up the GIL

    def work():
        # Seen there twice, the GIL given up between: once could be the
        # switch at the call instruction itself, before the call starts.
        seen = 0
        for _ in range(5000):
            seen = seen + 1 if main_is_in_call() else 0
            if seen == 2:
                break
            pause.wait(0.002)
        else:
            return
        total = 0
        for i in range(rounds):
            total += i
        progress.append(total)
        action()

    thread = threading.Thread(target=work)
    thread.start()
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


def interrupt_main_when_blocked_in(function_name):
    """Sends SIGINT to the main thread once it is inside `function_name`'s
    blocking call (its frame is the test's, at the line of the call)."""
    needs_sigint()
    main = threading.main_thread().ident
    done = threading.Event()

    def watch():
        for _ in range(1000):
            frame = sys._current_frames().get(main)
            if frame is not None and frame.f_code.co_name == function_name:
                signal.pthread_kill(main, signal.SIGINT)
                return
            if done.wait(0.005):
                return

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, done


def test_ctrl_c_interrupts_get_all_timeout(host):
    thread, done = interrupt_main_when_blocked_in("test_ctrl_c_interrupts_get_all_timeout")
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        host.get_all_timeout("never", LONG)
    done.set()
    thread.join(WAIT)
    # Interrupted, not returned at its timeout (then raised).
    assert time.monotonic() - start < LONG / 2


def test_ctrl_c_interrupts_a_subscription(host):
    sub = host.subscribe("never")
    thread, done = interrupt_main_when_blocked_in("test_ctrl_c_interrupts_a_subscription")
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        next(sub.iter(timeout=LONG))  # bounded: StopIteration, not a hang, if no signal came
    done.set()
    thread.join(WAIT)
    assert time.monotonic() - start < LONG / 2


def test_ctrl_c_interrupts_a_request(host, client):
    release = threading.Event()
    host.on_request("slow", lambda req: release.wait(LONG) and b"late")
    thread, done = interrupt_main_when_blocked_in("test_ctrl_c_interrupts_a_request")
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        client.request("slow", b"", timeout=LONG)
    done.set()
    thread.join(WAIT)
    assert time.monotonic() - start < LONG / 2
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
