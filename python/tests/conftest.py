"""Shared fixtures: a host on a free loopback port and clients of it.

Every blocking call in the tests has a timeout (`WAIT`), and no test sleeps
to synchronise: they wait on the engine's own blocking reads.
"""

import signal

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
