"""Ctrl-C interrupts locked writes of 64 KiB or more, `flush` and `close`
(they wait on a helper thread, in slices, checking for signals), and the
interrupted call goes on alone.

A write that blocks needs a peer that does not read: a client in a child
process, stopped with SIGSTOP once connected (so the host's socket buffers
fill), and resumed at the end. Every wait is bounded."""

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import socketengine as se
from conftest import WAIT, in_call, interrupt_main_in_call, needs_sigint
from test_gil import LONG

BIG = 64 << 20  # far more than loopback's socket buffers hold
# Queued unlocked: within the outbox's budget (16 MiB), so that a ping
# queued beside it does not make the host skip it; still far more than
# the kernels hold with 4 KiB socket buffers.
QUEUED = 8 << 20

CHILD = """
import sys, socketengine as se
c = se.Client(sys.argv[1], "stopped", recv_buffer=4096, max_frame=1 << 27)
c.write_lock("ready", b"")
sys.stdin.read()
"""


@contextlib.contextmanager
def ending(child):
    """Yields a function that stops `child` (a process); resumes and ends it
    on the way out."""
    try:
        yield lambda: os.kill(child.pid, signal.SIGSTOP)
    finally:
        os.kill(child.pid, signal.SIGCONT)
        child.kill()
        child.wait(WAIT)


@pytest.fixture
def stalled():
    """A host whose one client (a child process) is stopped: its writes to
    it block once the socket buffers are full."""
    with se.Host("127.0.0.1:0", max_frame=1 << 27, write_timeout=LONG, send_buffer=4096) as host:
        child = subprocess.Popen([sys.executable, "-c", CHILD, host.local_addr], stdin=subprocess.PIPE)
        with ending(child) as stop:
            # Once its first message is in, the host writes to it too.
            assert host.get_all_timeout("ready", WAIT * 4)
            stop()
            yield host


def interrupted(function, *args):
    """Calls `function(*args)` on the main thread, interrupted by SIGINT
    once it is inside that call (see `when_main_is_in_call`); returns how
    long it took to raise KeyboardInterrupt."""
    thread, done = interrupt_main_in_call()
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        in_call(function, *args)
    done.set()
    thread.join(WAIT)
    return time.monotonic() - start


def test_ctrl_c_interrupts_a_locked_write(stalled):
    took = interrupted(stalled.write_lock, "big", bytes(BIG))
    assert took < LONG / 2


def test_ctrl_c_interrupts_flush(stalled):
    assert stalled.write("big", bytes(QUEUED)) == 1
    took = interrupted(stalled.flush)
    assert took < LONG / 2


def test_ctrl_c_interrupts_close_waiting_for_a_callback(host, client):
    needs_sigint()
    release, running = threading.Event(), threading.Event()
    client.on("slow", lambda msg: (running.set(), release.wait(LONG)))
    host.write_lock("slow", b"x")
    try:
        assert running.wait(WAIT)
        took = interrupted(client.close)
        assert took < LONG / 2
        # The handle is closed already; its threads finish alone.
        assert client.closed
    finally:
        release.set()


def test_a_small_locked_write_runs_inline(host, client):
    # Under 64 KiB a locked write is not handed to a helper thread (the
    # hand-off would cost more than the write): it returns as before.
    assert client.write_lock("small", bytes(64)) == 1
    assert client.write_lock("large", bytes(1 << 20)) == 1
    assert [len(m.payload) for m in host.get_all_timeout("large", WAIT)] == [1 << 20]


def test_locked_writes_from_another_thread_still_block_there(host, client):
    # Off the main thread no signal comes: the call runs where it is.
    results = []
    thread = threading.Thread(target=lambda: results.append(client.write_lock("t", b"x")))
    thread.start()
    thread.join(WAIT)
    assert results == [1]
    assert host.get_all_timeout("t", WAIT)[0].payload == b"x"


HOST = """
import sys, socketengine as se
h = se.Host("127.0.0.1:0")
print(h.local_addr, flush=True)
sys.stdin.read()
"""


@pytest.fixture
def stopped_host():
    """A client whose host (a child process) is stopped once connected: what
    it asks of the host is never answered."""
    child = subprocess.Popen([sys.executable, "-c", HOST], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    with ending(child) as stop:
        addr = child.stdout.readline().strip()
        with se.Client(addr, "asker", write_timeout=LONG) as client:
            stop()
            yield client


@pytest.mark.parametrize("ask", [
    lambda c: (c.clients,),
    lambda c: (c.lookup, "nobody"),
])
def test_ctrl_c_interrupts_what_a_client_asks_of_its_host(stopped_host, ask):
    took = interrupted(*ask(stopped_host))
    assert took < LONG / 2

