"""Interpreter exit with the engine busy: a non-daemon thread iterating a
subscription, a callback still running. Each runs in a child process,
bounded in time."""

import subprocess
import sys

from conftest import WAIT

ITERATING_THREAD = """
import threading, socketengine as se
h = se.Host("127.0.0.1:0")
sub = h.subscribe("x")
started = threading.Event()
def drain():
    started.set()
    for _ in sub:
        pass
threading.Thread(target=drain).start()  # not a daemon
started.wait(5)
print("exiting", flush=True)
"""


def run(script):
    """Runs `script` in a child; its exit code and output, or a failure if
    it does not end within WAIT * 4 seconds."""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=WAIT * 4)
    return done.returncode, done.stdout + done.stderr


def test_a_non_daemon_thread_iterating_a_subscription_lets_the_interpreter_exit():
    code, out = run(ITERATING_THREAD)
    assert (code, out) == (0, "exiting\n")
