"""This package against pyzmq, imagezmq and Zenoh, on the same workloads:

* ``small``: 64-byte messages one way (msgs/s), through each library's
  fastest honest path: socketengine ``write_many`` batches read with
  ``get_all_timeout``; pyzmq PUSH/PULL, a ``send`` / ``recv`` per message
  (and, as ``pyzmq-multipart``, 1000-part ``send_multipart`` messages,
  each part counted); Zenoh a publisher's ``put`` (congestion control
  BLOCK, so nothing is dropped) and a subscriber's callback.
* ``frames``: 1080p RGB ``uint8`` numpy frames one way (frames/s, GB/s):
  the sender cycles through four distinct arrays (larger than the caches),
  and the receiver touches every frame (one byte of each 4 KiB page, and
  the last pixel). socketengine ``write_image_lock`` (and, as
  ``socketengine-shm``, both ends with ``shared_memory_images=True``: the
  frames go through a shared-memory segment, not the socket); imagezmq
  ``ImageSender`` / ``ImageHub`` in REQ/REP mode (its default: the hub
  replies to each frame) and in PUB/SUB mode (``REQ_REP=False``);
  pyzmq PUSH/PULL with ``copy=False``; Zenoh ``put`` of the frame's bytes.
* ``rtt``: 64-byte round trips (p50 / p99 in microseconds): socketengine
  ``Client.request`` to a Python ``on_request`` responder; pyzmq REQ/REP;
  Zenoh a querier's ``get`` to a queryable.

Every measurement runs its sender (or responder) in a child process and
its receiver (or requester) in this one: two processes, two GILs, for
every library alike, on loopback. ``--runs`` rounds each measure every
library once (so a swing in the machine's load weighs on all alike), and
the median run is reported, with the CPU time each side spent per message
(all its threads: less swayed by load than the rates). A library missing
from the environment is skipped with a line saying so.

Zenoh's default configuration moves payloads over 3 KiB between processes
of one machine through shared memory, not TCP: ``zenoh`` is that default,
``zenoh-tcp`` the same with shared memory off.

    python python/bench/compare.py [--secs 3] [--runs 3] [--only small,zmq] [--json]

``--only`` takes workloads and library names (``socketengine``, ``pyzmq``,
``imagezmq``, ``zenoh``), comma-separated. A measurement, not a test.
"""

import argparse
import importlib.util
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time

# numpy's OpenBLAS threads spin on this 2-core machine: one thread, for
# every library alike (the children inherit it).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import rates  # noqa: E402  (beside this file)

FRAME = (1080, 1920, 3)
SMALL = 64
BATCH = 1000
PAGE = 4096
# A child that outlives its work by this much is killed.
GRACE = 30.0
LIBRARIES = ("socketengine", "pyzmq", "imagezmq", "zenoh")
WORKLOADS = ("small", "frames", "rtt")


def have(module):
    return importlib.util.find_spec(module) is not None


def free_port():
    """A loopback port free now (for libraries that cannot report the one
    they bound)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def frames():
    """Four distinct 1080p frames, cycled by the senders; read-only, which
    socketengine sends without a copy (it copies a writable array)."""
    arrays = [np.full(FRAME, i, dtype=np.uint8) for i in range(4)]
    for array in arrays:
        array.flags.writeable = False
    return arrays


def touch(pixels):
    """Reads one byte of each 4 KiB page of a frame, and its last pixel."""
    flat = pixels.reshape(-1)
    return int(flat[::PAGE].sum()) + int(flat[-1])


class Counter:
    """Arrivals from the first to the last."""

    def __init__(self):
        self.count, self.first, self.last = 0, None, None

    def add(self, n):
        now = time.perf_counter()
        if self.first is None:
            self.first = now
        self.last = now
        self.count += n

    def rate(self):
        span = (self.last - self.first) if self.first is not None else 0.0
        return self.count / span if span > 0 else 0.0


def spawn(lib, workload, addr, secs):
    """The child: `lib`'s sender (or responder) for `workload`."""
    return subprocess.Popen([sys.executable, __file__, "--child", lib, workload, addr, str(secs)])


def finish(child):
    try:
        code = child.wait(GRACE)
    except subprocess.TimeoutExpired:
        child.kill()
        raise SystemExit("a child process did not finish in time")
    if code != 0:
        raise SystemExit(f"a child process failed (exit status {code})")


def latencies(samples):
    us = sorted(s * 1e6 for s in samples)
    return {"p50_us": us[len(us) // 2], "p99_us": us[min(len(us) - 1, int(len(us) * 0.99))], "count": len(us)}


# ---------------------------------------------------------------- socketengine

def se_child(workload, addr, secs, **options):
    import socketengine as se
    if workload == "rtt":
        with se.Host(addr) as host:
            host.on_request("echo", lambda req: req.payload)
            host.subscribe("stop").recv(timeout=secs + GRACE)
        return
    # One way: the writer of rates.py (the same channels and end marker).
    rates.write(workload, addr, secs, **options)


def se_parent(workload, secs, lib="socketengine", **options):
    import socketengine as se
    if workload == "rtt":
        addr = f"127.0.0.1:{free_port()}"
        child = spawn("socketengine", workload, addr, secs)
        client = connect_retrying(lambda: se.Client(addr, "requester"))
        with client:
            payload = bytes(SMALL)
            for _ in range(200):
                client.request("echo", payload, timeout=5.0)
            samples, deadline = [], time.monotonic() + secs
            while time.monotonic() < deadline:
                start = time.perf_counter()
                client.request("echo", payload, timeout=5.0)
                samples.append(time.perf_counter() - start)
            client.write_lock("stop", b"")
        finish(child)
        return latencies(samples)
    channel = "small" if workload == "small" else "cam"
    with se.Host("127.0.0.1:0", queue_capacity=1 << 20, image_queue_capacity=64, **options) as host:
        child = spawn(lib, workload, host.local_addr, secs)
        counter, touched = Counter(), 0
        while host.get("done") is None and child.poll() is None:
            batch = host.get_all_timeout(channel, 0.2)
            if batch:
                counter.add(len(batch))
                if workload == "frames":
                    for msg in batch:
                        touched += touch(np.asarray(msg.image))
        finish(child)
        return one_way(workload, counter)


def connect_retrying(connect, tries=200):
    """Connects to a child's host, which may not listen yet."""
    import socketengine as se
    for _ in range(tries):
        try:
            return connect()
        except (se.ConnectError, se.RefusedError):
            time.sleep(0.02)
    raise SystemExit("the child's host never listened")


def one_way(workload, counter):
    if workload == "small":
        return {"msgs_per_s": counter.rate(), "count": counter.count}
    rate = counter.rate()
    return {"frames_per_s": rate, "gb_per_s": rate * np.prod(FRAME) / 1e9, "count": counter.count}


# ---------------------------------------------------------------- pyzmq

def zmq_child(workload, addr, secs, multipart=False):
    import zmq
    ctx = zmq.Context()
    deadline = time.monotonic() + secs
    if workload == "rtt":
        rep = ctx.socket(zmq.REP)
        rep.bind(addr)
        rep.RCVTIMEO = int((secs + GRACE) * 1000)
        while True:
            msg = rep.recv()
            rep.send(msg)
            if msg == b"stop":
                break
        rep.close(linger=0)
        ctx.term()
        return
    push = ctx.socket(zmq.PUSH)
    push.connect(addr)
    if workload == "small":
        payload = bytes(SMALL)
        parts = [payload] * BATCH
        while time.monotonic() < deadline:
            if multipart:
                push.send_multipart(parts)
            else:
                for _ in range(BATCH):
                    push.send(payload)
    else:
        arrays, seq = frames(), 0
        while time.monotonic() < deadline:
            push.send(arrays[seq % 4], copy=False)
            seq += 1
    push.send(b"done")
    push.close(linger=-1)
    ctx.term()


def zmq_parent(workload, secs, multipart=False):
    import zmq
    lib = "pyzmq-multipart" if multipart else "pyzmq"
    ctx = zmq.Context()
    addr = f"tcp://127.0.0.1:{free_port()}"
    if workload == "rtt":
        child = spawn(lib, workload, addr, secs)
        req = ctx.socket(zmq.REQ)
        req.connect(addr)
        req.RCVTIMEO = 5000
        payload = bytes(SMALL)
        for _ in range(200):
            req.send(payload)
            req.recv()
        samples, deadline = [], time.monotonic() + secs
        while time.monotonic() < deadline:
            start = time.perf_counter()
            req.send(payload)
            req.recv()
            samples.append(time.perf_counter() - start)
        req.send(b"stop")
        req.recv()
        req.close(linger=0)
        finish(child)
        ctx.term()
        return latencies(samples)
    pull = ctx.socket(zmq.PULL)
    pull.bind(addr)
    pull.RCVTIMEO = int((secs + GRACE) * 1000)
    child = spawn(lib, workload, addr, secs)
    counter, touched = Counter(), 0
    while True:
        if multipart and workload == "small":
            parts = pull.recv_multipart()
            if parts == [b"done"]:
                break
            counter.add(len(parts))
            continue
        frame = pull.recv(copy=False)
        if len(frame) == 4 and frame.bytes == b"done":
            break
        counter.add(1)
        if workload == "frames":
            touched += touch(np.frombuffer(frame.buffer, dtype=np.uint8).reshape(FRAME))
    pull.close(linger=0)
    finish(child)
    ctx.term()
    return one_way(workload, counter)


# ---------------------------------------------------------------- imagezmq

def izmq_child(workload, addr, secs, reqrep):
    import imagezmq
    deadline = time.monotonic() + secs
    # REQ/REP: the hub binds and the sender connects; PUB/SUB the reverse.
    sender = imagezmq.ImageSender(connect_to=addr, REQ_REP=reqrep)
    arrays, seq = frames(), 0
    if not reqrep:
        time.sleep(0.5)  # a PUB socket drops what it sends before SUB joins
    while time.monotonic() < deadline:
        sender.send_image("cam", arrays[seq % 4])
        seq += 1
    for _ in range(3 if not reqrep else 1):
        sender.send_image("done", arrays[0][:1, :1])
    sender.close()


def izmq_parent(workload, secs, reqrep):
    import imagezmq
    port = free_port()
    lib = "imagezmq" if reqrep else "imagezmq-pubsub"
    if reqrep:
        hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}", REQ_REP=True)
        child = spawn(lib, workload, f"tcp://127.0.0.1:{port}", secs)
    else:
        child = spawn(lib, workload, f"tcp://127.0.0.1:{port}", secs)
        hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{port}", REQ_REP=False)
    import zmq
    hub.zmq_socket.RCVTIMEO = int((secs + GRACE) * 1000)
    counter, touched = Counter(), 0
    while True:
        try:
            name, image = hub.recv_image()
        except zmq.Again:
            break  # PUB/SUB: the sender is done and its last frames dropped
        if counter.count == 1 and not reqrep:
            hub.zmq_socket.RCVTIMEO = 1000
        if reqrep:
            hub.send_reply(b"OK")
        if name == "done":
            break
        counter.add(1)
        touched += touch(image)
    finish(child)
    hub.close()
    return one_way(workload, counter)


# ---------------------------------------------------------------- zenoh

def zenoh_session(listen=None, connect=None, shm=True):
    import zenoh
    config = zenoh.Config()
    config.insert_json5("transport/shared_memory/enabled", "true" if shm else "false")
    config.insert_json5("mode", '"peer"')
    config.insert_json5("scouting/multicast/enabled", "false")
    config.insert_json5("listen/endpoints", json.dumps([listen] if listen else []))
    config.insert_json5("connect/endpoints", json.dumps([connect] if connect else []))
    return zenoh.open(config)


def zenoh_child(workload, addr, secs, shm=True):
    import zenoh
    deadline = time.monotonic() + secs
    session = zenoh_session(connect=addr, shm=shm)
    if workload == "rtt":
        stop = []
        queryable = session.declare_queryable(
            "bench/echo", lambda q: q.reply("bench/echo", q.payload.to_bytes() if q.payload else b""))
        sub = session.declare_subscriber("bench/stop", lambda s: stop.append(1))
        ready = session.declare_publisher("bench/ready")
        while not stop and time.monotonic() < deadline + GRACE:
            ready.put(b"r")
            time.sleep(0.05)
        queryable.undeclare()
        sub.undeclare()
        session.close()
        return
    publisher = session.declare_publisher("bench/data", congestion_control=zenoh.CongestionControl.BLOCK)
    # The subscriber must be known before the first put counts.
    time.sleep(0.5)
    if workload == "small":
        payload = bytes(SMALL)
        while time.monotonic() < deadline:
            for _ in range(BATCH):
                publisher.put(payload)
    else:
        arrays, seq = frames(), 0
        while time.monotonic() < deadline:
            publisher.put(arrays[seq % 4].tobytes())
            seq += 1
    session.put("bench/done", b"", congestion_control=zenoh.CongestionControl.BLOCK)
    time.sleep(0.2)
    session.close()


def zenoh_parent(workload, secs, shm=True):
    import threading
    lib = "zenoh" if shm else "zenoh-tcp"
    addr = f"tcp/127.0.0.1:{free_port()}"
    session = zenoh_session(listen=addr, shm=shm)
    if workload == "rtt":
        ready = threading.Event()
        sub = session.declare_subscriber("bench/ready", lambda s: ready.set())
        child = spawn(lib, workload, addr, secs)
        if not ready.wait(GRACE):
            raise SystemExit("the zenoh responder never came")
        querier = session.declare_querier("bench/echo")
        payload = bytes(SMALL)

        def ask():
            for reply in querier.get(payload=payload):
                return reply.ok.payload

        for _ in range(200):
            ask()
        samples, deadline = [], time.monotonic() + secs
        while time.monotonic() < deadline:
            start = time.perf_counter()
            ask()
            samples.append(time.perf_counter() - start)
        session.put("bench/stop", b"")
        finish(child)
        sub.undeclare()
        session.close()
        return latencies(samples)
    counter, touched, done = Counter(), [0], threading.Event()

    def on_data(sample):
        counter.add(1)
        if workload == "frames":
            touched[0] += touch(np.frombuffer(sample.payload.to_bytes(), dtype=np.uint8).reshape(FRAME))

    sub = session.declare_subscriber("bench/data", on_data)
    end = session.declare_subscriber("bench/done", lambda s: done.set())
    child = spawn(lib, workload, addr, secs)
    done.wait(secs + GRACE)
    finish(child)
    sub.undeclare()
    end.undeclare()
    session.close()
    return one_way(workload, counter)


# ---------------------------------------------------------------- the table

# (library, workload) -> how to measure it in this process.
MEASURES = {
    ("socketengine", "small"): lambda s: se_parent("small", s),
    ("socketengine", "frames"): lambda s: se_parent("frames", s),
    ("socketengine", "rtt"): lambda s: se_parent("rtt", s),
    ("socketengine-shm", "frames"): lambda s: se_parent("frames", s, "socketengine-shm", shared_memory_images=True),
    ("pyzmq", "small"): lambda s: zmq_parent("small", s),
    ("pyzmq-multipart", "small"): lambda s: zmq_parent("small", s, multipart=True),
    ("pyzmq", "frames"): lambda s: zmq_parent("frames", s),
    ("pyzmq", "rtt"): lambda s: zmq_parent("rtt", s),
    ("imagezmq", "frames"): lambda s: izmq_parent("frames", s, reqrep=True),
    ("imagezmq-pubsub", "frames"): lambda s: izmq_parent("frames", s, reqrep=False),
    ("zenoh", "small"): lambda s: zenoh_parent("small", s),
    ("zenoh", "frames"): lambda s: zenoh_parent("frames", s),
    ("zenoh", "rtt"): lambda s: zenoh_parent("rtt", s),
    ("zenoh-tcp", "frames"): lambda s: zenoh_parent("frames", s, shm=False),
}
CHILDREN = {
    "socketengine": se_child,
    "socketengine-shm": lambda w, a, s: se_child(w, a, s, shared_memory_images=True),
    "pyzmq": zmq_child,
    "pyzmq-multipart": lambda w, a, s: zmq_child(w, a, s, multipart=True),
    "imagezmq": lambda w, a, s: izmq_child(w, a, s, reqrep=True),
    "imagezmq-pubsub": lambda w, a, s: izmq_child(w, a, s, reqrep=False),
    "zenoh": zenoh_child,
    "zenoh-tcp": lambda w, a, s: zenoh_child(w, a, s, shm=False),
}
MODULES = {"socketengine": "socketengine", "pyzmq": "zmq", "imagezmq": "imagezmq", "zenoh": "zenoh"}
# The figure a workload is ranked by, and whether more is better.
KEY = {"small": ("msgs_per_s", True), "frames": ("frames_per_s", True), "rtt": ("p50_us", False)}


def measured(measure, secs):
    """`measure(secs)`'s result, with the CPU time each side spent per
    message (frame, round trip): the sender's (or responder's) and the
    receiver's (or requester's), all their threads included. Less swayed
    by the machine's load than the rates."""
    self0, kids0 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    r = measure(secs)
    self1, kids1 = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)

    def cpu(a, b):
        return (b.ru_utime - a.ru_utime) + (b.ru_stime - a.ru_stime)

    count = max(1, r["count"])
    r["send_cpu_us"] = cpu(kids0, kids1) / count * 1e6
    r["recv_cpu_us"] = cpu(self0, self1) / count * 1e6
    return r


def base(lib):
    return lib.split("-")[0]


def median_run(results, workload):
    key, _ = KEY[workload]
    ordered = sorted(results, key=lambda r: r[key])
    return ordered[len(ordered) // 2]


def describe(workload, r):
    cpu = f"cpu {r['send_cpu_us']:7.1f} + {r['recv_cpu_us']:7.1f} us"
    if workload == "small":
        return f"{r['msgs_per_s']:>12,.0f} msgs/s              {cpu}"
    if workload == "frames":
        return f"{r['frames_per_s']:>8,.1f} frames/s {r['gb_per_s']:5.2f} GB/s  {cpu}"
    return f"p50 {r['p50_us']:6.1f} us p99 {r['p99_us']:6.1f} us {cpu}"


def ratio(workload, ours, theirs):
    key, more_is_better = KEY[workload]
    if not ours or not theirs or not theirs[key] or not ours[key]:
        return ""
    x = ours[key] / theirs[key] if more_is_better else theirs[key] / ours[key]
    return f"socketengine {x:5.2f}x"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--secs", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement, median reported (default 3)")
    parser.add_argument("--only", default="", help="comma-separated workloads and/or libraries")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        lib, workload, addr, secs = args.child
        return CHILDREN[lib](workload, addr, float(secs))
    only = {w for w in args.only.split(",") if w}
    workloads = [w for w in WORKLOADS if not (only & set(WORKLOADS)) or w in only]
    libraries = [lib for lib in LIBRARIES if not (only & set(LIBRARIES)) or lib in only]
    missing = [lib for lib in libraries if not have(MODULES[lib])]
    for lib in missing:
        print(f"{lib}: not installed in this environment, skipped (pip install {lib if lib != 'zenoh' else 'eclipse-zenoh'})",
              file=sys.stderr)
    chosen = [(lib, workload) for (lib, workload) in MEASURES
              if workload in workloads and base(lib) in libraries and base(lib) not in missing]
    # Rounds, each measuring everything once: the machine's load, which
    # swings, weighs on every library alike.
    runs = {}
    for round_ in range(args.runs):
        for lib, workload in chosen:
            r = measured(MEASURES[(lib, workload)], args.secs)
            runs.setdefault((lib, workload), []).append(r)
            if not args.json:
                print(f"  run {round_ + 1}: {workload:6} {lib:16} {describe(workload, r)}", file=sys.stderr)
    results = {}
    for (lib, workload), rs in runs.items():
        results.setdefault(workload, {})[lib] = median_run(rs, workload)
    if args.json:
        print(json.dumps({"secs": args.secs, "runs": args.runs, "load": os.getloadavg(), "results": results}, indent=2))
        return
    print(f"\n{args.runs} run(s) of {args.secs:g} s each, median; load average {os.getloadavg()[0]:.2f}")
    print("cpu: sender's + receiver's CPU time per message, frame or round trip (all threads)")
    titles = {"small": "64 B one way", "frames": "1080p RGB frames one way", "rtt": "64 B round trip"}
    for workload, by_lib in results.items():
        print(f"\n{titles[workload]}")
        ours = by_lib.get("socketengine")
        for lib, r in by_lib.items():
            note = "" if lib == "socketengine" else ratio(workload, ours, r)
            print(f"  {lib:16} {describe(workload, r)}   {note}")


if __name__ == "__main__":
    sys.exit(main())
