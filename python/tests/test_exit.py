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


RUNNING_CALLBACK = """
import threading, time, socketengine as se
h = se.Host("127.0.0.1:0", write_timeout=0.2)
c = se.Client(h.local_addr, "late", write_timeout=0.2)
running = threading.Event()
def slow(msg):
    running.set()
    for _ in range(100):  # 1 s, taking the GIL back 100 times
        time.sleep(0.01)
c.on("slow", slow)
h.write_lock("slow", b"x")
running.wait(5)
print("exiting", flush=True)
"""


def test_exit_waits_for_a_running_callback_instead_of_aborting():
    # Closing waits for the dispatcher only write_timeout (0.2 s); the
    # interpreter must not finalise under the callback still running.
    for _ in range(3):
        code, out = run(RUNNING_CALLBACK)
        assert (code, out) == (0, "exiting\n")


CLOSED_BY_ITS_OWN_CALLBACK = """
import gc, threading, socketengine as se
for round in range(30):
    host = se.Host("127.0.0.1:0")
    closed = threading.Event()
    def stop(msg):
        host.close()  # from the dispatcher thread: it is left to be joined
        closed.set()
    host.on("stop", stop)
    with se.Client(host.local_addr, "stopper", reconnect=False) as client:
        client.write_lock("stop", b"")
        assert closed.wait(5), round
    del host, stop  # a cycle: the collector drops the handle, with the GIL
    gc.collect()
print("exiting", flush=True)
"""


def test_a_handle_closed_by_its_own_callback_then_collected_does_not_hang():
    # The dispatcher thread, ending, takes the GIL to release its thread
    # state: the drop must not join it with the GIL held.
    code, out = run(CLOSED_BY_ITS_OWN_CALLBACK)
    assert (code, out) == (0, "exiting\n")


COLLECTED_WHILE_ITS_DISPATCHER_CALLS = """
import gc, threading, time, socketengine as se
host = se.Host("127.0.0.1:0")
called = threading.Event()

class Obj:
    def cb(self, msg):
        pass

def make(round):
    def echo_a(msg):  # made first: the collector clears it first
        called.set()
        time.sleep(0.0005)  # the dispatcher stays busy, the GIL free
        try:
            echo_a.h.write("y", b"")
        except se.Error:  # at exit, a may be closed or its host gone
            pass
    ob = Obj()  # B's cycle: b -> bound method -> ob -> b
    b = se.Client(host.local_addr, f"b{round}")
    ob.h = b
    b.on("x", ob.cb)
    a = se.Client(host.local_addr, f"a{round}")
    echo_a.h = a  # A's cycle: a -> echo_a -> a
    a.on("x", echo_a)
    keep = [a]
    keep.append(keep)  # keeps a past echo_a's clearing

gc.disable()
for round in range(30):
    make(round)
    called.clear()
    host.write_many([("x", b"1")] * 300)
    assert called.wait(5), round
    gc.collect()  # closing b lets go of the GIL while a's callbacks are due
print("exiting", flush=True)
"""


def test_a_collection_that_lets_go_of_the_gil_never_calls_a_cleared_callback():
    # The collector clears a's function, then frees b (closing it without
    # the GIL) while a's dispatcher has messages for that function: the
    # function must not run half cleared (a crash), nor at all.
    code, out = run(COLLECTED_WHILE_ITS_DISPATCHER_CALLS)
    assert (code, out) == (0, "exiting\n")


FORKED_WHILE_A_CALLBACK_RUNS = """
import os, threading, socketengine as se
host = se.Host("127.0.0.1:0")
client = se.Client(host.local_addr, "parent")
running, release = threading.Event(), threading.Event()
def slow(msg):
    running.set()
    release.wait(10)
host.on("slow", slow)
client.write_lock("slow", b"")
assert running.wait(5)
pid = os.fork()
if pid == 0:
    # The child inherits the handles, not their threads: its exit must not
    # join them, nor wait for the parent's running callback.
    with se.Host("127.0.0.1:0") as own:  # a handle of its own works
        with se.Client(own.local_addr, "child") as c:
            c.write_lock("x", b"1")
            assert own.get_all_timeout("x", 5)[0].payload == b"1"
    raise SystemExit(0)
release.set()
_, status = os.waitpid(pid, 0)
print("child", os.waitstatus_to_exitcode(status), flush=True)
"""


def test_a_forked_child_leaves_the_inherited_handles_and_exits():
    code, out = run(FORKED_WHILE_A_CALLBACK_RUNS)
    assert (code, out) == (0, "child 0\n")
