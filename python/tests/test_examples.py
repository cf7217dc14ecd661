"""The examples run: each as a subprocess on loopback, briefly (bounded by
its own `--secs` / `--count` and by a timeout here), so they cannot rot.
OpenCV is not needed: without it the camera examples draw and print."""

import socket
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
# The longest an example may take here, start-up included.
LIMIT = 60


def run(name, *args):
    done = subprocess.run([sys.executable, str(EXAMPLES / name), *args], capture_output=True,
                          text=True, timeout=LIMIT)
    assert done.returncode == 0, done.stderr
    return done.stdout


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("name", ["camera_streamer.py", "viewer.py", "control_loop.py", "request_reply.py"])
def test_help(name):
    assert "usage:" in run(name, "--help")


def test_the_viewer_receives_the_streamers_frames():
    addr = f"127.0.0.1:{free_port()}"
    streamer = subprocess.Popen([sys.executable, str(EXAMPLES / "camera_streamer.py"), "--addr", addr,
                                 "--synthetic", "--fps", "50", "--secs", "20", "--width", "160", "--height", "120"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = run("viewer.py", "--addr", addr, "--count", "5", "--secs", "15", "--no-window")
    finally:
        streamer.kill()
        streamer.communicate(timeout=LIMIT)
    assert "received 5 frames" in out


def test_the_streamer_stops_after_its_count():
    out = run("camera_streamer.py", "--addr", "127.0.0.1:0", "--synthetic", "--count", "10", "--fps", "1000")
    assert "done: 10 frames" in out


def test_the_control_loop_acts_on_commands():
    out = run("control_loop.py", "--rate", "200", "--command-rate", "50", "--secs", "1")
    assert " ticks at 200 Hz" in out and "new commands" in out
    ticks = int(out.split(" ticks")[0])
    assert ticks > 0


def test_request_reply_both_ways():
    out = run("request_reply.py", "--count", "50")
    assert "add [1, 2, 3] -> {'sum': 6}" in out
    assert "upper 'hello' -> HELLO" in out
    assert "NoResponderError" in out
    assert "50 requests" in out
