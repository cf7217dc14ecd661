"""Shared fixtures: a host on a free loopback port and clients of it.

Every blocking call in the tests has a timeout (`WAIT`), and no test sleeps
to synchronise: they wait on the engine's own blocking reads.
"""

import dis
import signal
import sys
import threading

import pytest

import socketengine as se

# The longest any test waits for something that should come at once.
WAIT = 5.0


@pytest.fixture
def host():
    with se.Host("127.0.0.1:0") as h:
        yield h


@pytest.fixture
def client(host):
    with se.Client(host.local_addr, "arm") as c:
        yield c


@pytest.fixture
def planner(host):
    with se.Client(host.local_addr, "planner") as c:
        yield c


def received(handle, channel, count=1):
    """The first `count` messages on `channel`, waiting at most WAIT for them."""
    got = []
    while len(got) < count:
        batch = handle.get_all_timeout(channel, WAIT)
        assert batch, f"only {len(got)} of {count} messages on {channel!r}"
        got.extend(batch)
    return got


def needs_sigint():
    """Skips a Ctrl-C test where SIGINT is ignored: a process started in
    the background by a non-interactive shell inherits SIG_IGN, and Python
    then installs no handler, so the signal a test sends would be lost and
    the call it should interrupt would wait its whole timeout (or for ever)."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("SIGINT is ignored in this process (started in the background?)")


def in_call(function, *args):
    """Calls `function(*args)`: a frame whose presence on top of the main
    thread's stack, at its call instruction, shows the main thread inside
    that call (its arguments made already)."""
    return function(*args)


def main_is_in_call():
    """Whether the main thread is inside `in_call`'s call: its top frame is
    `in_call`'s, at the call instruction (seeing its stack needs the GIL:
    only a wait that released it lets this run then)."""
    frame = sys._current_frames().get(threading.main_thread().ident)
    if frame is None or frame.f_code is not in_call.__code__:
        return False
    at = [i for i in dis.get_instructions(frame.f_code) if i.offset == frame.f_lasti]
    return bool(at) and at[0].opname.startswith("CALL")


def when_main_is_in_call(action, otherwise=None):
    """A thread that waits (at most 5000 looks, 2 ms apart) until the main
    thread is inside `in_call`'s call, then runs `action`; if it never sees
    it there, it runs `otherwise` (if given: something that ends the main
    thread's wait, so that a test fails instead of hanging). Returns the
    thread and an event that stops its watch once set."""
    done = threading.Event()

    def watch():
        # Seen there twice, the GIL given up between: once could be the
        # switch at the call instruction itself, before the call starts.
        seen = 0
        for _ in range(5000):
            seen = seen + 1 if main_is_in_call() else 0
            if seen == 2:
                action()
                return
            if done.wait(0.002):
                return
        if otherwise is not None:
            otherwise()

    thread = threading.Thread(target=watch)
    thread.start()
    return thread, done


def interrupt_main_in_call(otherwise=None):
    """Sends SIGINT to the main thread once it is inside `in_call`'s call
    (see `when_main_is_in_call`); skips the test where SIGINT is ignored."""
    needs_sigint()
    main = threading.main_thread().ident
    return when_main_is_in_call(lambda: signal.pthread_kill(main, signal.SIGINT), otherwise)
